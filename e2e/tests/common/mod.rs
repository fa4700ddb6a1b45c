//! Helpers shared by the host tests: the test guest module and requests, the
//! policy module under test, and the look-ups and answers tests replay.
//!
//! The test guest (`e2e/test-guest`, a workspace member) is built once per
//! test binary in the same cargo run as the policy, as `make` builds it, so
//! after `make` this is a no-op and otherwise the two share their dependencies.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use policy_host::metadata::{annotate, AnnotateInput};
use policy_host::session::HostRequest;
use policy_host::{Evaluation, Evaluator, EvaluatorOptions};
use serde_json::{json, Value};

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's root (this crate is its `e2e/`).
pub fn repository_root() -> PathBuf {
    manifest_dir().join("..")
}

/// The policy module the end-to-end tests run: `$POLICY_MODULE` (a relative
/// path may be given from the repository root, as `make` users think of it),
/// otherwise the repository root's `annotated-policy.wasm`.
pub fn policy_module_path() -> PathBuf {
    let module = match std::env::var_os("POLICY_MODULE").filter(|v| !v.is_empty()) {
        Some(given) => {
            let given = PathBuf::from(given);
            if given.is_absolute() || given.exists() {
                given
            } else {
                repository_root().join(given)
            }
        }
        None => repository_root().join("annotated-policy.wasm"),
    };
    assert!(
        module.is_file(),
        "policy module {} not found: run `make annotated-policy.wasm` at the repository root \
         (or set POLICY_MODULE to an annotated policy)",
        module.display()
    );
    module
}

/// The bytes of [`policy_module_path`].
pub fn policy_module() -> Vec<u8> {
    let path = policy_module_path();
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The guest's look-up of Service `name` in the namespace `default`.
pub fn get_service(name: &str) -> HostRequest {
    HostRequest::KubernetesGetResource {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: name.into(),
        namespace: Some("default".into()),
        disable_cache: false,
        field_masks: None,
    }
}

/// The message of an evaluation's response, empty when it has none.
pub fn message(evaluation: &Evaluation) -> String {
    evaluation
        .response
        .status
        .as_ref()
        .and_then(|status| status.message.clone())
        .unwrap_or_default()
}

/// The `[check-id]` tokens of a message or warning, sorted. A check id starts
/// with a letter: `[0]` is an index in a field path.
pub fn check_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = text
        .split('[')
        .skip(1)
        .filter_map(|rest| rest.split_once(']').map(|(id, _)| id))
        .filter(|id| {
            id.starts_with(|c: char| c.is_ascii_lowercase())
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

pub fn fixtures_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures/guest")
}

/// Scratch space shared by the tests of this crate.
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("policy-host-tests");
    std::fs::create_dir_all(&dir).expect("cannot create the test scratch directory");
    dir
}

/// The wasmtime compilation cache the tests share, so the guest is compiled
/// once rather than once per test.
pub fn compilation_cache_dir() -> PathBuf {
    std::env::temp_dir().join("policy-host-wasmtime-cache")
}

/// Path of the compiled (unannotated) test guest.
pub fn test_guest_wasm() -> &'static Path {
    static GUEST: OnceLock<PathBuf> = OnceLock::new();
    GUEST.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        // The policy is in the same run on purpose: cargo unifies features over
        // the packages of one run, so building the guest alone would give the
        // shared dependencies other features and compile them all again.
        let output = Command::new(cargo)
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip1"])
            .args(["-p", "statefulset-policy", "-p", "policy-host-test-guest"])
            .args(["--message-format", "json-render-diagnostics"])
            .arg("--manifest-path")
            .arg(manifest_dir().join("../Cargo.toml"))
            // The outer `cargo test` may set flags meant for the host target.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("cannot run cargo to build the test guest");
        assert!(
            output.status.success(),
            "building the test guest failed (is the wasm32-wasip1 target installed? `rustup target add wasm32-wasip1`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        guest_artifact(&output.stdout).unwrap_or_else(|| {
            panic!(
                "cargo built no policy_host_test_guest.wasm:\n{}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    })
}

/// The test guest's `.wasm` among cargo's JSON build messages: found there
/// rather than guessed, so CARGO_TARGET_DIR and `build.target-dir` are honoured.
fn guest_artifact(messages: &[u8]) -> Option<PathBuf> {
    String::from_utf8_lossy(messages)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == "policy_host_test_guest")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .find(|file| {
            file.extension()
                .is_some_and(|extension| extension == "wasm")
        })
}

/// The test guest annotated with `tests/fixtures/guest/metadata.yml`
/// (context-aware access to v1/Service only).
pub fn annotated_test_guest() -> &'static Path {
    static ANNOTATED: OnceLock<PathBuf> = OnceLock::new();
    ANNOTATED.get_or_init(|| {
        let module = std::fs::read(test_guest_wasm()).expect("cannot read the test guest");
        let metadata_yaml = std::fs::read_to_string(fixtures_dir().join("metadata.yml"))
            .expect("cannot read the metadata fixture");
        let usage = std::fs::read_to_string(fixtures_dir().join("README.md"))
            .expect("cannot read the usage fixture");
        let (annotated, _) = annotate(
            &module,
            AnnotateInput {
                metadata_yaml: &metadata_yaml,
                usage: Some(&usage),
                protocol_version: "v1".to_string(),
            },
        )
        .expect("cannot annotate the test guest");
        // One file per test binary: binaries run concurrently.
        let exe = std::env::current_exe().expect("no current exe");
        let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
        let path = scratch_dir().join(format!("annotated-test-guest-{stem}.wasm"));
        std::fs::write(&path, annotated).expect("cannot write the annotated test guest");
        path
    })
}

/// An evaluator for the annotated test guest.
pub fn evaluator(options: EvaluatorOptions) -> Evaluator {
    let module = std::fs::read(annotated_test_guest()).expect("cannot read the annotated guest");
    Evaluator::new(
        &module,
        EvaluatorOptions {
            compilation_cache_dir: Some(compilation_cache_dir()),
            ..options
        },
    )
    .expect("cannot load the test guest")
}

/// An AdmissionRequest for a StatefulSet carrying `test/action: <action>`.
pub fn request(action: &str) -> Value {
    json!({
        "uid": format!("uid-{action}"),
        "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
        "name": "web",
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "alice"},
        "object": {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "annotations": {"test/action": action}
            },
            "spec": {"replicas": 1, "serviceName": "nginx"}
        }
    })
}

/// Writes `value` as JSON into the scratch dir and returns the path.
pub fn write_json(name: &str, value: &Value) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(value).expect("serialisable"),
    )
    .expect("cannot write a test file");
    path
}
