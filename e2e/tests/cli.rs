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

#[test]
fn allowed_host_capabilities_gate_look_ups_like_kwctl() {
    let request_path = write_json("cli-lookup-gated.json", &request("lookup"));
    let session = fixtures_dir().join("sessions/service-nginx.yml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "-r",
            path(&request_path),
            "--allow-context-aware",
            "--replay-host-capabilities-interactions",
            path(&session),
        ];
        args.extend_from_slice(extra);
        args.push(path(annotated_test_guest()));
        policy_host(&args)
    };
    // kwctl's default is `*`.
    let default = stdout_json(&run(&[]));
    assert!(
        default["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("lookup ok:"),
        "{default}"
    );
    let refused = stdout_json(&run(&[
        "--allowed-host-capabilities",
        "kubernetes/can_i",
        "--allowed-host-capabilities",
        "oci/*",
    ]));
    assert_eq!(
        refused["status"]["message"],
        "lookup failed: error invoking host capability kubernetes.get_resource: Host error: Policy has not been granted access to the 'kubernetes/get_resource' host capability. The violation has been reported."
    );
    let granted = stdout_json(&run(&["--allowed-host-capabilities", "kubernetes/*"]));
    assert!(granted["status"]["message"]
        .as_str()
        .unwrap()
        .starts_with("lookup ok:"));

    let bad = run(&["--allowed-host-capabilities", "kubernetes/get_resources"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.starts_with("Error: --allowed-host-capabilities: unknown host capability \"kubernetes/get_resources\""),
        "{stderr}"
    );
}

/// Writes a policies.yml with one entry, `test-guest`, made of `entry`.
fn policies_file(name: &str, entry: &str) -> std::path::PathBuf {
    let file = scratch_dir().join(name);
    std::fs::write(
        &file,
        format!("test-guest:\n  module: registry://127.0.0.1:5000/test-guest:v1\n{entry}"),
    )
    .unwrap();
    file
}

fn run_entry(policies: &Path, action: &str, session: Option<&str>) -> Output {
    let request_path = write_json(&format!("cli-entry-{action}.json"), &request(action));
    let session_path = session.map(|s| fixtures_dir().join("sessions").join(s));
    let mut args = vec![
        "run",
        "--policies",
        path(policies),
        "--policy-id",
        "test-guest",
        "-r",
        path(&request_path),
    ];
    if let Some(session_path) = &session_path {
        args.push("--replay-host-capabilities-interactions");
        args.push(path(session_path));
    }
    args.push(path(annotated_test_guest()));
    policy_host(&args)
}

#[test]
fn policies_entry_grants_what_policy_server_grants() {
    let granted = policies_file(
        "cli-policies-granted.yml",
        "  contextAwareResources: [{apiVersion: v1, kind: Service}]\n  hostCapabilities: [kubernetes/get_resource]\n",
    );
    let response = stdout_json(&run_entry(&granted, "lookup", Some("service-nginx.yml")));
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("lookup ok:"),
        "{response}"
    );

    // No hostCapabilities: policy-server refuses every look-up by name,
    // although contextAwareResources grants the resource.
    let no_capabilities = policies_file(
        "cli-policies-no-capabilities.yml",
        "  contextAwareResources: [{apiVersion: v1, kind: Service}]\n",
    );
    let output = run_entry(&no_capabilities, "lookup", Some("service-nginx.yml"));
    let response = stdout_json(&output);
    assert_eq!(
        response["status"]["message"],
        "lookup failed: error invoking host capability kubernetes.get_resource: Host error: Policy has not been granted access to the 'kubernetes/get_resource' host capability. The violation has been reported."
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 recorded exchange(s) have not been replayed"),
        "{stderr}"
    );

    // hostCapabilities alone: the resource must still be listed, and the
    // module's metadata (which lists v1/Service) does not count.
    let no_resources = policies_file(
        "cli-policies-no-resources.yml",
        "  hostCapabilities: ['*']\n",
    );
    let response = stdout_json(&run_entry(&no_resources, "lookup", None));
    assert_eq!(
        response["status"]["message"],
        "lookup failed: error invoking host capability kubernetes.get_resource: Host error: Policy has not been granted access to Kubernetes v1/Service resources. The violation has been reported."
    );
}

#[test]
fn policies_entry_applies_allowed_to_mutate_and_policy_mode() {
    let validating = policies_file("cli-policies-validating.yml", "  settings: {}\n");
    let response = stdout_json(&run_entry(&validating, "mutate", None));
    assert_eq!(
        response,
        json!({
            "uid": "uid-mutate",
            "allowed": false,
            "status": {"message": "Request rejected by policy test-guest. The policy attempted to mutate the request, but it is currently configured to not allow mutations."},
            "auditAnnotations": null,
            "warnings": null
        })
    );
    let mutating = policies_file("cli-policies-mutating.yml", "  allowedToMutate: true\n");
    let response = stdout_json(&run_entry(&mutating, "mutate", None));
    assert_eq!(response["patchType"], "JSONPatch");

    let monitor = policies_file("cli-policies-monitor.yml", "  policyMode: monitor\n");
    let response = stdout_json(&run_entry(&monitor, "reject", None));
    assert_eq!(
        response,
        json!({"uid": "uid-reject", "allowed": true, "auditAnnotations": null, "warnings": null})
    );
}

#[test]
fn policies_entry_settings_and_mistakes() {
    let invalid = policies_file(
        "cli-policies-invalid.yml",
        "  settings:\n    invalid: true\n",
    );
    let output = run_entry(&invalid, "accept", None);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Provided settings are not valid"),
        "{stderr}"
    );

    let misspelt = policies_file("cli-policies-misspelt.yml", "  hostCapabilites: ['*']\n");
    let output = run_entry(&misspelt, "accept", None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("policy \"test-guest\": `hostCapabilites` is not a key policy-server reads; it is ignored"),
        "{stderr}"
    );
    assert_eq!(stdout_json(&output)["allowed"], true);

    let request_path = write_json("cli-entry-missing.json", &request("accept"));
    let output = policy_host(&[
        "run",
        "--policies",
        path(&misspelt),
        "--policy-id",
        "other",
        "-r",
        path(&request_path),
        path(annotated_test_guest()),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no policy named \"other\"; the file defines: test-guest"),
        "{stderr}"
    );

    // The entry is the whole configuration: kwctl's grant flags conflict with it.
    for flag in [
        vec!["--settings-json", "{}"],
        vec!["--allow-context-aware"],
        vec!["--allowed-host-capabilities", "*"],
    ] {
        let mut args = vec![
            "run",
            "--policies",
            path(&misspelt),
            "--policy-id",
            "test-guest",
            "-r",
            path(&request_path),
        ];
        args.extend(flag.iter().copied());
        args.push(path(annotated_test_guest()));
        let output = policy_host(&args);
        assert!(!output.status.success(), "{flag:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot be used with"), "{flag:?}: {stderr}");
    }
}
