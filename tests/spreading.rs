//! `pods-spread` through the full flow: which scheduling terms keep the
//! replicas apart, read as the scheduler reads them (pod anti-affinity terms,
//! required or preferred; topology spread constraints, DoNotSchedule or
//! ScheduleAnyway), with label selectors matched as Kubernetes matches them.

mod common;

use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};

fn run(object: Value, settings: Value) -> ValidationResponse {
    create(object)
        .settings(settings)
        .run(&mut FakeCluster::healthy())
}

/// Three replicas with these scheduling fields in the pod template.
fn three(affinity: Option<Value>, constraints: Option<Value>) -> Value {
    let mut object = with(sts(), "/spec/replicas", json!(3));
    if let Some(affinity) = affinity {
        set(&mut object, "/spec/template/spec/affinity", affinity);
    }
    if let Some(constraints) = constraints {
        set(
            &mut object,
            "/spec/template/spec/topologySpreadConstraints",
            constraints,
        );
    }
    object
}

fn required(term: Value) -> Value {
    json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
}

fn preferred(term: Value) -> Value {
    json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "podAffinityTerm": term}
    ]}})
}

fn term(selector: Value) -> Value {
    json!({"topologyKey": "kubernetes.io/hostname", "labelSelector": selector})
}

fn web() -> Value {
    json!({"matchLabels": {"app": "web"}})
}

/// Whether the set counts as spread; otherwise the pods-spread warning.
fn verdict(object: Value, settings: Value) -> Result<(), String> {
    let response = run(object, settings);
    let warnings = accepted(&response);
    match warnings.as_slice() {
        [] => Ok(()),
        [warning] if check_ids(warning) == ["pods-spread"] => Err(warning.clone()),
        other => panic!("unexpected warnings {other:?}"),
    }
}

#[track_caller]
fn spreads(object: Value) {
    if let Err(warning) = verdict(object.clone(), json!({})) {
        panic!("expected spread: {object}\n{warning}");
    }
}

#[track_caller]
fn does_not_spread(object: Value, reason: &str) {
    match verdict(object.clone(), json!({})) {
        Ok(()) => panic!("expected a pods-spread warning: {object}"),
        Err(warning) => assert_mentions(&warning, &[reason]),
    }
}

#[test]
fn one_replica_needs_no_spreading_whether_absent_zero_or_one() {
    // The API server defaults absent replicas to 1 (SetDefaults_StatefulSet).
    accepted_cleanly(&run(sts(), json!({})));
    accepted_cleanly(&run(with(sts(), "/spec/replicas", json!(1)), json!({})));
    accepted_cleanly(&run(with(sts(), "/spec/replicas", json!(0)), json!({})));
    accepted_cleanly(&run(with(sts(), "/spec/replicas", Value::Null), json!({})));
    does_not_spread(with(sts(), "/spec/replicas", json!(2)), "with 2 replicas");
}

#[test]
fn required_and_preferred_anti_affinity_both_spread() {
    spreads(three(Some(required(term(web()))), None));
    spreads(three(Some(preferred(term(web()))), None));
}

#[test]
fn both_kinds_of_topology_spread_constraint_spread() {
    for when in ["DoNotSchedule", "ScheduleAnyway"] {
        let constraint = json!([{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": when,
            "labelSelector": web()
        }]);
        spreads(three(None, Some(constraint)));
    }
}

#[test]
fn a_term_on_another_topology_key_does_not_spread_unless_listed() {
    let zone = json!({"topologyKey": "topology.kubernetes.io/zone", "labelSelector": web()});
    does_not_spread(
        three(Some(preferred(zone.clone())), None),
        "preferredDuringSchedulingIgnoredDuringExecution[0] has topologyKey \"topology.kubernetes.io/zone\", not \"kubernetes.io/hostname\"",
    );
    let both = json!({"availability": {"spreadTopologyKeys": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]}});
    assert_eq!(
        verdict(three(Some(preferred(zone.clone())), None), both),
        Ok(())
    );
    // Zone only: a hostname term no longer counts.
    let zone_only =
        json!({"availability": {"spreadTopologyKeys": ["topology.kubernetes.io/zone"]}});
    let warning = verdict(three(Some(preferred(term(web()))), None), zone_only).unwrap_err();
    assert_mentions(&warning, &["not \"topology.kubernetes.io/zone\""]);
    // No topologyKey at all.
    does_not_spread(
        three(Some(required(json!({"labelSelector": web()}))), None),
        "has topologyKey \"\"",
    );
}

#[test]
fn an_empty_key_list_turns_the_check_off() {
    let off = json!({"availability": {"spreadTopologyKeys": []}});
    assert_eq!(verdict(three(None, None), off), Ok(()));
}

#[test]
fn a_constraint_or_term_selecting_other_pods_does_not_spread() {
    let cache = json!({"matchLabels": {"app": "cache"}});
    does_not_spread(
        three(
            None,
            Some(json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": cache}])),
        ),
        "topologySpreadConstraints[0] selects app=cache, which matches none of the 3 replicas (their labels: app=web, plus",
    );
    does_not_spread(
        three(
            Some(required(term(
                json!({"matchLabels": {"app": "web", "tier": "db"}}),
            ))),
            None,
        ),
        "selects app=web,tier=db",
    );
}

#[test]
fn selectors_match_with_every_operator() {
    let expression = |key: &str, operator: &str, values: Value| json!({"matchExpressions": [{"key": key, "operator": operator, "values": values}]});
    let exists = |key: &str, operator: &str| json!({"matchExpressions": [{"key": key, "operator": operator}]});
    for selector in [
        expression("app", "In", json!(["cache", "web"])),
        expression("app", "NotIn", json!(["cache"])),
        expression("tier", "NotIn", json!(["db"])),
        exists("app", "Exists"),
        exists("tier", "DoesNotExist"),
        // {} selects every pod, the set's own among them.
        json!({}),
    ] {
        spreads(three(Some(preferred(term(selector))), None));
    }
    for (selector, reason) in [
        (
            expression("app", "In", json!(["cache"])),
            "selects app in (cache)",
        ),
        (
            expression("app", "NotIn", json!(["web"])),
            "selects app notin (web)",
        ),
        (exists("tier", "Exists"), "selects tier,"),
        (exists("app", "DoesNotExist"), "selects !app,"),
    ] {
        does_not_spread(three(Some(preferred(term(selector))), None), reason);
    }
}

#[test]
fn a_null_or_invalid_selector_selects_no_pod() {
    // "If it's null, this PodAffinityTerm matches with no Pods" (core/v1 types.go).
    does_not_spread(
        three(
            Some(required(json!({"topologyKey": "kubernetes.io/hostname"}))),
            None,
        ),
        "has a null labelSelector, which selects no pod",
    );
    does_not_spread(
        three(
            None,
            Some(
                json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": null}]),
            ),
        ),
        "topologySpreadConstraints[0] has a null labelSelector",
    );
    does_not_spread(
        three(
            Some(preferred(term(
                json!({"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["web"]}]}),
            ))),
            None,
        ),
        "has an invalid labelSelector (\"Equals\" is not a label selector operator)",
    );
}

#[test]
fn a_term_only_for_other_namespaces_does_not_spread_this_set() {
    let in_namespaces = |namespaces: Value, selector: Option<Value>| {
        let mut t = term(web());
        t["namespaces"] = namespaces;
        if let Some(selector) = selector {
            t["namespaceSelector"] = selector;
        }
        three(Some(preferred(t)), None)
    };
    // Null or empty namespaces and no namespaceSelector: "this pod's namespace".
    spreads(in_namespaces(Value::Null, None));
    spreads(in_namespaces(json!([]), None));
    spreads(in_namespaces(json!(["db"]), None));
    spreads(in_namespaces(json!(["other", "db"]), None));
    does_not_spread(
        in_namespaces(json!(["other"]), None),
        "applies only to other namespaces than \"db\"",
    );
    // The namespaceSelector adds namespaces: {} is all of them.
    spreads(in_namespaces(json!([]), Some(json!({}))));
    spreads(in_namespaces(json!(["other"]), Some(json!({}))));
    spreads(in_namespaces(
        json!([]),
        Some(json!({"matchLabels": {"kubernetes.io/metadata.name": "db"}})),
    ));
    spreads(in_namespaces(
        json!([]),
        Some(
            json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["db", "x"]}]}),
        ),
    ));
    does_not_spread(
        in_namespaces(
            json!([]),
            Some(json!({"matchLabels": {"kubernetes.io/metadata.name": "other"}})),
        ),
        "applies only to other namespaces than \"db\"",
    );
    // Other namespace labels are not known without a Namespace look-up.
    does_not_spread(
        in_namespaces(
            json!([]),
            Some(json!({"matchLabels": {"team": "payments"}})),
        ),
        "has a namespaceSelector (team=payments) on namespace labels the policy does not look up",
    );
    // A selector that would select nothing stays "this pod's namespace" only when null.
    does_not_spread(
        in_namespaces(
            json!([]),
            Some(
                json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "DoesNotExist"}]}),
            ),
        ),
        "applies only to other namespaces",
    );
}

#[test]
fn match_label_keys_that_differ_per_replica_narrow_the_term_to_the_pod_itself() {
    let with_keys = |field: &str, keys: Value| {
        let mut t = term(web());
        t[field] = keys;
        three(Some(preferred(t)), None)
    };
    // Shared by every replica (template labels, the revision hash): still spreads.
    spreads(with_keys("matchLabelKeys", json!(["app"])));
    spreads(with_keys(
        "matchLabelKeys",
        json!(["controller-revision-hash"]),
    ));
    // Absent from the pod: ignored.
    spreads(with_keys("matchLabelKeys", json!(["not-there"])));
    // Set per pod by the StatefulSet controller: only the pod itself.
    for key in [
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
    ] {
        does_not_spread(
            with_keys("matchLabelKeys", json!([key])),
            &format!("has matchLabelKeys \"{key}\", whose value differs on every replica"),
        );
    }
    // mismatchLabelKeys: `key notin (own value)`. A shared value excludes the
    // other replicas; a per-pod value excludes only the pod itself.
    does_not_spread(
        with_keys("mismatchLabelKeys", json!(["app"])),
        "has mismatchLabelKeys \"app\", a label the replicas share",
    );
    does_not_spread(
        with_keys("mismatchLabelKeys", json!(["controller-revision-hash"])),
        "has mismatchLabelKeys \"controller-revision-hash\"",
    );
    spreads(with_keys(
        "mismatchLabelKeys",
        json!(["statefulset.kubernetes.io/pod-name"]),
    ));
    // The same rule for topology spread constraints.
    let constraint = |keys: Value| {
        three(
            None,
            Some(
                json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": web(),
                "matchLabelKeys": keys}]),
            ),
        )
    };
    spreads(constraint(json!(["controller-revision-hash"])));
    does_not_spread(
        constraint(json!(["statefulset.kubernetes.io/pod-name"])),
        "topologySpreadConstraints[0] has matchLabelKeys",
    );
}

#[test]
fn one_spreading_term_is_enough_and_each_other_term_says_why_not() {
    let affinity = json!({"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": web()}
        ],
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app": "cache"}}}}
        ]
    }});
    let constraints = json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule"}]);
    let object = three(Some(affinity.clone()), Some(constraints.clone()));
    let warning = verdict(object, json!({})).unwrap_err();
    assert_mentions(
        &warning,
        &[
            "[pods-spread] spec.template.spec is without a term that spreads the replicas",
            "(not spreading: podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0] has topologyKey \"topology.kubernetes.io/zone\"",
            "; podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0] selects app=cache",
            "; topologySpreadConstraints[0] has a null labelSelector",
        ],
    );
    // Positive pod affinity does not keep replicas apart.
    let together =
        json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(web())]}});
    does_not_spread(
        three(Some(together), None),
        "without podAntiAffinity or topologySpreadConstraints",
    );
    // Adding one good constraint makes the set spread.
    let mut constraints = constraints;
    constraints.as_array_mut().unwrap().push(
        json!({"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": web()}),
    );
    spreads(three(Some(affinity), Some(constraints)));
}

#[test]
fn spreading_follows_the_updated_replica_count() {
    // Scaling one replica up to 3 without spreading is a new fault: raised to
    // deny, pods-spread refuses it.
    let deny = json!({"enforcement": {"pods-spread": "deny"}});
    let message = denied(
        &update(with(sts(), "/spec/replicas", json!(3)), sts())
            .settings(deny.clone())
            .run(&mut FakeCluster::healthy()),
    );
    assert_eq!(check_ids(&message), vec!["pods-spread"]);
    // A set that already had 3 unspread replicas may roll a new image.
    let old = with(sts(), "/spec/replicas", json!(3));
    let new = with(
        old.clone(),
        "/spec/template/spec/containers/0/image",
        json!("nginx:2"),
    );
    let warnings = accepted(
        &update(new, old)
            .settings(deny)
            .run(&mut FakeCluster::healthy()),
    );
    assert_mentions(
        &warnings[0],
        &["[pods-spread]", "already so before this update"],
    );
}
