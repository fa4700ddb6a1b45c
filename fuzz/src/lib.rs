//! The harness shared by the fuzz targets.
//!
//! Every target ends in [`evaluate_and_check`]: it runs the policy against a
//! [`FakeCluster`] and asserts the properties of the response listed in
//! `fuzz/README.md`. A failed assertion is a panic, which libFuzzer reports as a
//! crash with the input that caused it.

pub mod cluster;
pub mod generate;
pub mod oracle;
pub mod text;

use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::Value;
use statefulset_policy::admission;
use statefulset_policy::request::ValidatePayload;

/// The policy's answer as hosts read it: `validate`'s bytes, decoded with the SDK's type.
pub fn evaluate(
    payload: &[u8],
    cluster: &mut dyn statefulset_policy::cluster::Cluster,
) -> ValidationResponse {
    as_hosts_read(admission::evaluate(payload, cluster))
}

fn as_hosts_read(answer: statefulset_policy::verdict::Response) -> ValidationResponse {
    let bytes = answer.to_json().expect("the response serialises");
    serde_json::from_slice(&bytes).expect("the response is the SDK's ValidationResponse")
}

pub use cluster::{Calls, FakeCluster};

/// Real requests the structure-aware target starts from (the e2e requests and
/// a request captured from a cluster), minified.
pub const SEEDS: &[&str] = &[
    include_str!("../seeds/web-create.json"),
    include_str!("../seeds/database-create.json"),
    include_str!("../seeds/real-cluster-create.json"),
    include_str!("../seeds/real-cluster-create-server-side-apply.json"),
    include_str!("../seeds/web-beta-annotation-class.json"),
    include_str!("../seeds/web-keep-kubernetes-defaults.json"),
    include_str!("../seeds/web-on-delete.json"),
    include_str!("../seeds/web-retention-retain.json"),
    include_str!("../seeds/web-claim-without-request.json"),
    include_str!("../seeds/no-claims-create.json"),
    include_str!("../seeds/web-update-claim-class-changed.json"),
    include_str!("../seeds/web-update-service-name-changed.json"),
    include_str!("../seeds/database-update-grandfathered.json"),
    include_str!("../seeds/web-status-update.json"),
    include_str!("../seeds/service-nginx-delete.json"),
    include_str!("../seeds/deployment-create.json"),
];

/// Evaluates `payload` against the cluster chosen by `seed` and checks the response.
///
/// With `FUZZ_SHOW_INPUT` set in the environment, the payload is printed first
/// (to read a crash input: `FUZZ_SHOW_INPUT=1 cargo fuzz run <target> <crash file>`);
/// with `FUZZ_SHOW_OUTCOME`, the verdict is (to see what a corpus exercises).
pub fn evaluate_and_check(payload: &[u8], seed: u8) {
    if std::env::var_os("FUZZ_SHOW_INPUT").is_some() {
        eprintln!(
            "cluster seed {seed}, payload:\n{}",
            String::from_utf8_lossy(payload)
        );
    }
    let mut cluster = FakeCluster::new(seed);
    let answer = admission::evaluate(payload, &mut cluster);
    // Read in one pass or in two (see the policy's `request`): the same bytes.
    let in_two_passes = admission::evaluate_read(
        ValidatePayload::parse_in_two_passes(payload),
        &mut FakeCluster::new(seed),
    );
    assert_eq!(
        String::from_utf8_lossy(&answer.to_json().expect("the response serialises")),
        String::from_utf8_lossy(&in_two_passes.to_json().expect("the response serialises")),
        "the payload read in one pass and in two is answered differently"
    );
    // A mutation copies the object's text as written, numbers the policy does
    // not read included: one out of f64's range (`1e400`) then fails the host's
    // parse of the response. No host sends such an object: policy-server, kwctl
    // and policy-host parse the request into a serde_json Value first, which
    // refuses it. So that answer is left unchecked, and only for such payloads.
    if answer.mutated_object.is_some() && serde_json::from_slice::<Value>(payload).is_err() {
        return;
    }
    let response = as_hosts_read(answer);
    if std::env::var_os("FUZZ_SHOW_OUTCOME").is_some() {
        eprintln!(
            "outcome: accepted={} code={:?} mutated={} calls={}",
            response.accepted,
            response.code,
            response.mutated_object.is_some(),
            cluster.calls.total()
        );
    }
    check(payload, &response, cluster.calls, &cluster);
}

fn string_at<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a str> {
    value.and_then(|v| v.get(key)).and_then(Value::as_str)
}

/// The properties of one response; panics with an explanation when one fails.
pub fn check(payload: &[u8], response: &ValidationResponse, calls: Calls, cluster: &FakeCluster) {
    // A clean verdict, whatever the input.
    serde_json::to_vec(response).expect("the response serialises");
    if response.accepted {
        assert!(response.code.is_none(), "an acceptance carries no code");
    } else {
        assert!(
            response
                .message
                .as_deref()
                .is_some_and(|m| !m.trim().is_empty()),
            "a refusal says why"
        );
        assert!(
            response.mutated_object.is_none(),
            "a refusal carries no mutation"
        );
    }
    if let Some(warnings) = &response.warnings {
        assert!(warnings.iter().all(|w| !w.is_empty()), "empty warning");
    }
    assert!(
        calls.service <= 1
            && calls.storage_classes <= 1
            && calls.stateful_sets <= 1
            && calls.pod_disruption_budgets <= 1,
        "more than one look-up of a kind: {calls:?}"
    );

    let Ok(payload) = serde_json::from_slice::<Value>(payload) else {
        // Not JSON to serde_json::Value (e.g. a number out of range in a field
        // the policy skips): nothing more to compare with.
        return;
    };
    let Some(request) = payload.get("request").filter(|r| r.is_object()) else {
        return;
    };
    let kind = request.get("kind");
    let group = string_at(kind, "group").unwrap_or("");
    let kind = string_at(kind, "kind");
    let operation = string_at(Some(request), "operation").unwrap_or("");
    let sub_resource = ["subResource", "sub_resource"]
        .iter()
        .any(|k| string_at(Some(request), k).is_some_and(|s| !s.is_empty()));
    let statefulset = group == "apps" && kind == Some("StatefulSet");
    let service_delete = group.is_empty() && kind == Some("Service") && operation == "DELETE";
    let judged = statefulset && !sub_resource && matches!(operation, "CREATE" | "UPDATE");
    let object = request.get("object").filter(|o| !o.is_null());

    if sub_resource || !(statefulset || service_delete) || (statefulset && !judged) {
        assert_eq!(
            calls.total(),
            0,
            "look-ups for a request that is not judged"
        );
    }
    if service_delete && !sub_resource {
        assert_eq!(
            calls.service + calls.storage_classes + calls.pod_disruption_budgets,
            0
        );
    }
    if judged {
        assert_eq!(
            calls.stateful_sets, 0,
            "StatefulSets listed for a StatefulSet"
        );
        match object {
            None => assert!(!response.accepted, "accepted a StatefulSet without object"),
            Some(object) => {
                if let Err(why) = oracle::well_typed(object) {
                    assert!(
                        !response.accepted,
                        "accepted a StatefulSet that does not decode: {why}"
                    );
                }
            }
        }
    }

    if let Some(mutated) = &response.mutated_object {
        assert!(
            judged && operation == "CREATE",
            "mutation outside a StatefulSet CREATE"
        );
        let object = object.expect("a mutated request has an object");
        assert!(
            !oracle::opted_out(object),
            "mutated an object that opted out"
        );
        let defaults = oracle::DefaultsSpec::from_settings(payload.get("settings"));
        if let Err(why) = oracle::check_mutation(object, mutated, &defaults) {
            panic!("{why}");
        }
        // Idempotence: the mutated object, judged again, needs no more defaults.
        let mut again = payload.clone();
        again["request"]["object"] = mutated.clone();
        let again = serde_json::to_vec(&again).expect("serialises");
        let mut fresh = cluster.fresh();
        let second = evaluate(&again, &mut fresh);
        assert!(
            second.mutated_object.is_none(),
            "a second evaluation mutates again: {:?}",
            second.mutated_object
        );
        assert!(
            second.accepted,
            "the mutated object is refused when judged again: {:?}",
            second.message
        );
    }

    if judged {
        relations(&payload, cluster);
    }
}

/// Two evaluations compared, for which no copy of the rules is needed: the
/// same request under stricter settings, and with its claims and labels in
/// another order.
fn relations(payload: &Value, cluster: &FakeCluster) {
    let settings = payload.get("settings");
    let again = |payload: &Value| {
        let bytes = serde_json::to_vec(payload).expect("serialises");
        evaluate(&bytes, &mut cluster.fresh())
    };
    // Every side is judged from the parsed value, as hosts hand it over: the
    // fuzzed bytes may write a key twice (refused), which the parsed value
    // holds once.
    let plain = again(payload);
    let valid = |settings: &Value| {
        let bytes = serde_json::to_vec(settings).expect("serialises");
        statefulset_policy::settings_verdict(&bytes).valid
    };
    // Only a refusal under valid settings: making invalid settings "stricter"
    // may drop the very value that made them invalid.
    let refused_under_valid_settings = !plain.accepted && settings.is_none_or(valid);
    if refused_under_valid_settings {
        let stricter = oracle::stricter(settings).filter(|stricter| valid(stricter));
        if let Some(stricter) = stricter {
            let mut strict = payload.clone();
            strict["settings"] = stricter;
            let strict = again(&strict);
            assert!(
                !strict.accepted,
                "stricter settings accepted what the original settings refused: {:?}",
                plain.message
            );
        }
    }
    let Some(request) = payload.get("request") else {
        return;
    };
    let mut reordered = payload.clone();
    reordered["request"] = oracle::reordered(request);
    let reordered = again(&reordered);
    assert_eq!(
        (plain.accepted, plain.code),
        (reordered.accepted, reordered.code),
        "reordering claims or labels changed the verdict: {:?} / {:?}",
        plain.message,
        reordered.message
    );
}
