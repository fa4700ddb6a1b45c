//! The shipped `examples/policy-server/policies.yml` entry, run through the
//! built policy module as a standalone policy-server 1.35 would run it: the
//! entry's settings, contextAwareResources, hostCapabilities and
//! allowedToMutate, with the cluster answered by a replay session.
//!
//! The module is `$POLICY_MODULE` or the repository's `annotated-policy.wasm`
//! (`make annotated-policy.wasm`), as for `tests/cases.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use policy_host::{CACHE_DIR_ENV, HOST_CALLS_STDERR_PREFIX, REPLAY_PROBLEM_STDERR_PREFIX};
use serde_json::{json, Value};

use common::{policy_module_path, repository_root};

const POLICY_HOST: &str = env!("CARGO_BIN_EXE_policy-host");
const POLICY_ID: &str = "statefulset-policy";

fn shipped_policies() -> PathBuf {
    repository_root().join("examples/policy-server/policies.yml")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("policy-host-tests");
    std::fs::create_dir_all(&dir).expect("cannot create the test scratch directory");
    dir.join(name)
}

/// The shipped policies.yml with `edit` applied to the policy's entry.
fn edited_policies(name: &str, edit: impl FnOnce(&mut serde_yaml::Mapping)) -> PathBuf {
    let text = std::fs::read_to_string(shipped_policies()).expect("cannot read policies.yml");
    let mut document: serde_yaml::Value = serde_yaml::from_str(&text).expect("policies.yml");
    let entry = document
        .get_mut(POLICY_ID)
        .and_then(serde_yaml::Value::as_mapping_mut)
        .expect("policies.yml has the statefulset-policy entry");
    edit(entry);
    let path = scratch(name);
    std::fs::write(&path, serde_yaml::to_string(&document).unwrap()).unwrap();
    path
}

fn run(policies: &Path, request: &str, session: &str) -> Output {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(POLICY_HOST)
        .arg("run")
        .arg("--policies")
        .arg(policies)
        .arg("--policy-id")
        .arg(POLICY_ID)
        .arg("--request-path")
        .arg(e2e.join("requests").join(request))
        .arg("--replay-host-capabilities-interactions")
        .arg(e2e.join("sessions").join(session))
        .arg(policy_module_path())
        .env(
            CACHE_DIR_ENV,
            std::env::temp_dir().join("policy-host-wasmtime-cache"),
        )
        .output()
        .expect("cannot run policy-host")
}

fn response(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "policy-host failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

fn decoded_patch(response: &Value) -> Option<Value> {
    use base64::Engine as _;
    let encoded = response["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64 patch");
    Some(serde_json::from_slice(&bytes).expect("JSON patch"))
}

fn message(response: &Value) -> &str {
    response["status"]["message"].as_str().unwrap_or_default()
}

#[test]
fn shipped_entry_admits_a_compliant_statefulset_with_its_lookups() {
    // web-create: claim `www` without class, governing Service `nginx`. The
    // entry defaults the class to `standard` and checks that it exists: one
    // Service look-up and one StorageClass list, both answered.
    let output = run(
        &shipped_policies(),
        "web-create.json",
        "service-nginx-and-storage-classes.yml",
    );
    let response = response(&output);
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(
        decoded_patch(&response),
        Some(
            json!([{"op": "add", "path": "/spec/volumeClaimTemplates/0/spec/storageClassName", "value": "standard"}])
        ),
        "{response}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{HOST_CALLS_STDERR_PREFIX}2")),
        "{stderr}"
    );
    assert!(!stderr.contains(REPLAY_PROBLEM_STDERR_PREFIX), "{stderr}");
    assert!(
        !stderr.contains("is not a key policy-server reads"),
        "{stderr}"
    );
}

#[test]
fn without_host_capabilities_policy_server_refuses_every_lookup() {
    let policies = edited_policies("policies-without-host-capabilities.yml", |entry| {
        assert!(
            entry.remove("hostCapabilities").is_some(),
            "the shipped entry grants host capabilities"
        );
    });
    let output = run(
        &policies,
        "web-create.json",
        "service-nginx-and-storage-classes.yml",
    );
    let response = response(&output);
    assert_eq!(response["allowed"], false, "{response}");
    // The StorageClass list (storage-class-exists denies) is refused in the
    // denial, the Service look-up (its checks warn by default) in a warning.
    let warnings = response["warnings"].to_string();
    for (text, capability) in [
        (message(&response), "list_resources_all"),
        (warnings.as_str(), "get_resource"),
    ] {
        assert!(
            text.contains(&format!(
                "Policy has not been granted access to the 'kubernetes/{capability}' host capability. The violation has been reported."
            )),
            "{response}"
        );
        // Each names the fix for that cause: the entry's hostCapabilities.
        assert!(
            text.contains("list it in the policy's hostCapabilities"),
            "{response}"
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("2 recorded exchange(s) have not been replayed"),
        "the refused look-ups never reach the cluster: {stderr}"
    );
}

#[test]
fn without_a_context_aware_resource_its_lookup_is_refused_by_kind() {
    let policies = edited_policies("policies-without-storage-classes.yml", |entry| {
        let resources = entry
            .get_mut("contextAwareResources")
            .and_then(serde_yaml::Value::as_sequence_mut)
            .expect("the shipped entry lists contextAwareResources");
        let before = resources.len();
        resources.retain(|resource| resource["kind"] != "StorageClass");
        assert_eq!(resources.len(), before - 1, "StorageClass was listed");
    });
    let output = run(
        &policies,
        "web-create.json",
        "service-nginx-and-storage-classes.yml",
    );
    let response = response(&output);
    assert_eq!(response["allowed"], false, "{response}");
    assert!(
        message(&response).contains(
            "Policy has not been granted access to Kubernetes storage.k8s.io/v1/StorageClass resources. The violation has been reported."
        ),
        "{response}"
    );
    assert!(
        message(&response).contains("list it in contextAwareResources"),
        "{response}"
    );
}
