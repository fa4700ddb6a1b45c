//! Runs every e2e case in `e2e/cases/*.yml` against the policy module.
//!
//! - module: `$POLICY_MODULE`, default `../annotated-policy.wasm` (the
//!   repository root's annotated policy, built by `make annotated-policy.wasm`);
//! - cases: `$E2E_CASES_DIR`, default `e2e/cases`;
//! - relative paths in those variables are tried under `e2e/`, then under the
//!   repository root;
//! - host: the `policy-host` binary of this crate, or kwctl when
//!   `POLICY_HOST_CMD=kwctl` (or a path to a kwctl executable), with the very
//!   same `run` arguments.
//!
//! All failing cases are reported together.

use std::path::PathBuf;

use policy_host::cases::{load_cases, run_cases, HostCommand};

/// `$variable` or `default`. Tests run with `e2e/` as working directory, so a
/// relative path is looked up under `e2e/` first and then under the
/// repository root, where `make` and most people run from.
fn from_env_or(variable: &str, default: PathBuf) -> PathBuf {
    let Some(value) = std::env::var_os(variable).filter(|v| !v.is_empty()) else {
        return default;
    };
    let given = PathBuf::from(value);
    if given.is_absolute() || given.exists() {
        return given;
    }
    let from_root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(&given);
    if from_root.exists() {
        from_root.canonicalize().unwrap_or(from_root)
    } else {
        given
    }
}

fn host_command() -> HostCommand {
    match std::env::var("POLICY_HOST_CMD") {
        Ok(cmd) if !cmd.is_empty() && cmd != "policy-host" => {
            let is_kwctl = PathBuf::from(&cmd)
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("kwctl"));
            assert!(
                is_kwctl,
                "POLICY_HOST_CMD must be `kwctl` (or a path to a kwctl executable), got {cmd:?}"
            );
            HostCommand::Kwctl(cmd.into())
        }
        _ => HostCommand::PolicyHost(env!("CARGO_BIN_EXE_policy-host").into()),
    }
}

#[test]
fn e2e_cases() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let module = from_env_or(
        "POLICY_MODULE",
        manifest_dir.join("../annotated-policy.wasm"),
    );
    assert!(
        module.is_file(),
        "policy module {} not found: run `make annotated-policy.wasm` at the repository root \
         (or set POLICY_MODULE to an annotated policy)",
        module.display()
    );
    let cases_dir = from_env_or("E2E_CASES_DIR", manifest_dir.join("cases"));
    assert!(
        cases_dir.is_dir(),
        "no e2e cases: {} does not exist; add one *.yml file per case (see e2e/README.md)",
        cases_dir.display()
    );
    let cases = load_cases(&cases_dir).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        !cases.is_empty(),
        "no e2e cases (*.yml) found in {}",
        cases_dir.display()
    );

    let host = host_command();
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    let failures = run_cases(&host, &module, &cases, parallelism);
    if !failures.is_empty() {
        let report: String = failures.iter().map(ToString::to_string).collect();
        panic!(
            "{} of {} e2e cases failed with {host} on {}:\n{report}",
            failures.len(),
            cases.len(),
            module.display()
        );
    }
    eprintln!(
        "{} e2e cases passed with {host} on {}",
        cases.len(),
        module.display()
    );
}
