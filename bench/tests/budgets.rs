//! The issue's deterministic budgets, enforced on the built module:
//!
//! - size: `policy-optimized.wasm` (wasm-opt -Oz, before annotation) is at most
//!   512 KiB and smaller than 513,762 bytes;
//! - host calls: no StatefulSet evaluation makes more than 3 host calls (the
//!   Service, the StorageClasses, the namespace's PodDisruptionBudgets), over
//!   every StatefulSet e2e case, the examples with every look-up check on, and
//!   large sets with many claims and classes (CREATE and UPDATE).
//!
//! Evaluation times are measured by `make bench`, not asserted here.
//!
//! ```sh
//! make annotated-policy.wasm
//! cargo test --profile host -p policy-bench --test budgets
//! ```

use std::path::{Path, PathBuf};

use policy_bench::cluster::{session_for, Lookups};
use policy_bench::{all_lookups_settings, large, paths, read_json, read_settings};
use policy_host::cases::load_cases;
use policy_host::{AdmissionRequest, Evaluation, Evaluator, EvaluatorOptions, ReplaySession};
use serde_json::{json, Value};

/// 512 KiB.
const SIZE_LIMIT: u64 = 524_288;
/// And strictly smaller than this.
const SIZE_BELOW: u64 = 513_762;
const HOST_CALL_LIMIT: usize = 3;

fn root() -> PathBuf {
    paths::repository_root()
}

#[test]
fn optimized_module_fits_the_size_budget() {
    let path = root().join("policy-optimized.wasm");
    let size = match std::fs::metadata(&path) {
        Ok(metadata) => metadata.len(),
        Err(e) => panic!(
            "{} is missing ({e}): run make policy-optimized.wasm",
            path.display()
        ),
    };
    assert!(
        size <= SIZE_LIMIT,
        "policy-optimized.wasm is {size} bytes, over the 512 KiB budget ({SIZE_LIMIT})"
    );
    assert!(
        size < SIZE_BELOW,
        "policy-optimized.wasm is {size} bytes, not smaller than {SIZE_BELOW}"
    );
}

/// The annotated module (its metadata grants the look-ups), as the e2e tests use it.
fn module_path() -> PathBuf {
    match std::env::var_os("POLICY_MODULE") {
        Some(path) => paths::resolve(Path::new(&path)),
        None => root().join("annotated-policy.wasm"),
    }
}

fn evaluator() -> Evaluator {
    let path = module_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run make annotated-policy.wasm",
            path.display()
        )
    });
    Evaluator::new(
        &bytes,
        EvaluatorOptions {
            allow_context_aware: true,
            ..EvaluatorOptions::default()
        },
    )
    .expect("the module loads")
}

fn is_statefulset(request: &Value) -> bool {
    let request = request.get("request").unwrap_or(request);
    request["kind"]["group"] == "apps" && request["kind"]["kind"] == "StatefulSet"
}

fn evaluate(
    evaluator: &Evaluator,
    request: &Value,
    settings: &Value,
    session: Option<ReplaySession>,
) -> Evaluation {
    let request = AdmissionRequest::from_json(request).expect("a valid AdmissionRequest");
    evaluator
        .instantiate(session)
        .expect("a fresh instance")
        .validate(&request, settings)
}

/// Checks every evaluation, then reports all offenders together.
fn assert_within_budget(results: &[(String, Evaluation)]) {
    let over: Vec<String> = results
        .iter()
        .filter(|(_, e)| e.host_calls > HOST_CALL_LIMIT)
        .map(|(name, e)| format!("{name}: {} host calls", e.host_calls))
        .collect();
    assert!(
        over.is_empty(),
        "over the budget of {HOST_CALL_LIMIT} host calls per StatefulSet:\n{}",
        over.join("\n")
    );
}

#[test]
fn every_statefulset_e2e_case_makes_at_most_three_host_calls() {
    let evaluator = evaluator();
    let cases = load_cases(&root().join("e2e/cases")).expect("the e2e cases load");
    let mut results = Vec::new();
    for case in cases.iter().filter(|c| c.expect.settings_valid) {
        let request = read_json(&case.request).expect("the case's request");
        if !is_statefulset(&request) {
            continue;
        }
        let session = case
            .session
            .as_deref()
            .map(|path| ReplaySession::from_path(path).expect("the case's session"));
        let settings = case.settings.clone().unwrap_or_else(|| json!({}));
        results.push((
            case.name.clone(),
            evaluate(&evaluator, &request, &settings, session),
        ));
    }
    assert!(
        results.len() >= 40,
        "only {} StatefulSet cases were found",
        results.len()
    );
    assert_within_budget(&results);
}

/// The strict profile of `examples/policies/strict.yml` turns every look-up check
/// on, the budget checks included; the examples' recorded sessions answer its
/// look-ups.
#[test]
fn examples_with_every_lookup_check_on_make_at_most_three_host_calls() {
    let evaluator = evaluator();
    let strict: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("examples/policies/strict.yml"))
            .expect("examples/policies/strict.yml"),
    )
    .expect("strict.yml is YAML");
    let strict = strict["spec"]["settings"].clone();
    let platform = read_settings(&root().join("examples/settings.yml")).expect("settings.yml");
    let mut platform_all = platform.clone();
    platform_all["storage"]["requireVolumeExpansion"] = json!(true);
    for settings in [&strict, &platform_all, &all_lookups_settings()] {
        let validation = evaluator.validate_settings(settings).expect("settings run");
        assert!(validation.valid, "{settings}: {:?}", validation.message);
    }

    let mut requests: Vec<PathBuf> = std::fs::read_dir(root().join("examples/requests"))
        .expect("examples/requests")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    requests.sort();
    let mut results = Vec::new();
    for path in &requests {
        let request = read_json(path).expect("an example request");
        if !is_statefulset(&request) {
            continue;
        }
        let session_path = root()
            .join("examples/sessions")
            .join(path.with_extension("yml").file_name().expect("a file name"));
        for (label, settings) in [
            ("strict", &strict),
            ("platform + requireVolumeExpansion", &platform_all),
            ("all look-ups", &all_lookups_settings()),
        ] {
            let session = ReplaySession::from_path(&session_path).expect("the example's session");
            let evaluation = evaluate(&evaluator, &request, settings, Some(session));
            assert!(
                evaluation.replay_problems.is_empty(),
                "{} with {label}: {:?}",
                path.display(),
                evaluation.replay_problems
            );
            results.push((format!("{} with {label}", path.display()), evaluation));
        }
    }
    assert!(results.len() >= 15, "only {} evaluations", results.len());
    assert!(
        results.iter().any(|(_, e)| e.host_calls == HOST_CALL_LIMIT),
        "no example exercised all three look-ups"
    );
    assert_within_budget(&results);
}

/// Many claims naming many classes, on CREATE and on an UPDATE whose old object
/// names another Service: still one Service look-up, one StorageClass list
/// and, with the budget checks on, one PodDisruptionBudget list.
#[test]
fn large_sets_with_many_claims_make_at_most_three_host_calls() {
    let evaluator = evaluator();
    let create = large::request();
    let mut many_classes = create.clone();
    if let Some(claims) = many_classes["object"]["spec"]["volumeClaimTemplates"].as_array_mut() {
        for (index, claim) in claims.iter_mut().enumerate() {
            claim["spec"]["storageClassName"] = json!(format!("class-{index:03}"));
        }
    }
    let mut update = many_classes.clone();
    update["operation"] = json!("UPDATE");
    let mut old = update["object"].clone();
    old["spec"]["serviceName"] = json!("previous");
    update["oldObject"] = old;

    let platform = read_settings(&root().join("examples/settings.yml")).expect("settings.yml");
    let mut results = Vec::new();
    for (label, request) in [
        ("large CREATE", &create),
        ("large CREATE, 100 classes", &many_classes),
        ("large UPDATE, 100 classes, old Service differs", &update),
    ] {
        for (settings_label, settings, lookups, calls) in [
            ("all look-ups", all_lookups_settings(), Lookups::All, 3),
            (
                "platform",
                platform.clone(),
                Lookups::ServiceAndStorageClasses,
                2,
            ),
        ] {
            let session = session_for(request, lookups);
            let evaluation = evaluate(&evaluator, request, &settings, Some(session));
            assert!(
                evaluation.replay_problems.is_empty(),
                "{label} with {settings_label}: {:?}",
                evaluation.replay_problems
            );
            assert_eq!(
                evaluation.host_calls,
                calls,
                "{label} with {settings_label}: one Service look-up, one StorageClass list{}",
                if calls == 3 {
                    ", one PodDisruptionBudget list"
                } else {
                    ""
                }
            );
            results.push((format!("{label} with {settings_label}"), evaluation));
        }
    }
    assert_within_budget(&results);
}
