//! The metadata's `rules` route to the policy every request a check judges,
//! and nothing else: `kwctl scaffold manifest` copies them into the policy it
//! writes, and a request they do not route never reaches the policy (Service
//! DELETE was missing, so `service-in-use` could never fire in a scaffolded
//! policy). The required rules are derived from `CheckId::triggers` over
//! `CheckId::ALL`; the example ClusterAdmissionPolicies must route what the
//! checks their settings run judge, and nothing no check of theirs judges.

use serde_json::{json, Value};
use statefulset_policy::settings::Settings;
use statefulset_policy::violation::{CheckId, Trigger};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// `(apiGroup, apiVersion, resource[/subresource], operation)`.
type Route = (String, String, String, String);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_yaml(relative: &str) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{relative}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn route(trigger: &Trigger) -> Route {
    let resource = match trigger.subresource {
        Some(sub) => format!("{}/{sub}", trigger.resource),
        None => trigger.resource.to_string(),
    };
    (
        trigger.api_group.to_string(),
        trigger.api_version.to_string(),
        resource,
        trigger.operation.to_string(),
    )
}

/// What the checks for which `runs` holds judge.
fn derived(runs: impl Fn(CheckId) -> bool) -> BTreeSet<Route> {
    CheckId::ALL
        .iter()
        .filter(|check| runs(**check))
        .flat_map(|check| check.triggers().iter().map(route))
        .collect()
}

fn strings<'a>(rule: &'a Value, key: &str, what: &str) -> Vec<&'a str> {
    rule[key]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: {key} is not a list"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{what}: {key} holds {v}"))
        })
        .collect()
}

/// Every route a list of admission rules matches, wildcards refused (the
/// policy's rules name what they route).
fn expand(rules: &Value, what: &str) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    for rule in rules
        .as_array()
        .unwrap_or_else(|| panic!("{what}: rules is not a list"))
    {
        let keys: BTreeSet<&str> = rule
            .as_object()
            .unwrap_or_else(|| panic!("{what}: a rule is not a mapping"))
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.is_subset(&BTreeSet::from([
                "apiGroups",
                "apiVersions",
                "resources",
                "operations",
                "scope"
            ])),
            "{what}: rule keys {keys:?}"
        );
        for group in strings(rule, "apiGroups", what) {
            for version in strings(rule, "apiVersions", what) {
                for resource in strings(rule, "resources", what) {
                    for operation in strings(rule, "operations", what) {
                        for part in [group, version, resource, operation] {
                            assert!(!part.contains('*'), "{what}: wildcard in {rule}");
                        }
                        let fresh = routes.insert((
                            group.to_string(),
                            version.to_string(),
                            resource.to_string(),
                            operation.to_string(),
                        ));
                        assert!(fresh, "{what}: {rule} repeats a route");
                    }
                }
            }
        }
    }
    routes
}

#[test]
fn metadata_rules_route_what_the_checks_judge() {
    let documents = read_yaml("policy-metadata.yml");
    let listed = expand(&documents[0]["rules"], "policy-metadata.yml");
    let needed = derived(|_| true);
    assert_eq!(
        listed, needed,
        "policy-metadata.yml rules must route exactly what CheckId::triggers names"
    );
    // The checks' own table says Service DELETE (service-in-use), the case
    // that was missing.
    assert!(needed.contains(&(
        String::new(),
        "v1".into(),
        "services".into(),
        "DELETE".into()
    )));
}

/// Kubewarden's audit scanner audits only the resources of rules with a
/// CREATE operation (`internal/audit-scanner/policies/client.go`,
/// `filterNonCreateOperations`): those must be StatefulSets, the objects the
/// policy judges as stored. A Service rule with CREATE would have every
/// Service audited and answered with a misconfiguration warning.
#[test]
fn only_statefulsets_are_routed_on_create() {
    for (group, _, resource, operation) in derived(|_| true) {
        if operation == "CREATE" {
            assert_eq!(
                (group.as_str(), resource.as_str()),
                ("apps", "statefulsets")
            );
        }
    }
}

#[test]
fn example_policies_route_what_their_checks_judge() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/policies"))
        .expect("examples/policies")
        .map(|entry| entry.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let relative = file
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for policy in read_yaml(&relative) {
            if policy["kind"] != "ClusterAdmissionPolicy" {
                continue;
            }
            let what = format!("{relative} ({})", policy["metadata"]["name"]);
            let settings = policy["spec"].get("settings").cloned().unwrap_or(json!({}));
            let settings = Settings::from_json(&serde_json::to_vec(&settings).unwrap())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let needed = derived(|check| settings.runs(check));
            let listed = expand(&policy["spec"]["rules"], &what);
            assert_eq!(
                listed, needed,
                "{what}: rules must route what the checks it runs judge (a rule no running check needs sends requests for nothing)"
            );
        }
    }
}
