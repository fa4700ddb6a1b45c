//! The admission flow, top to bottom: decode, mutate, check, respond.

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::checks::{self, quote, services_in_use, Action, CheckId, Violation};
use crate::cluster::{Cluster, ClusterFacts};
use crate::defaults;
use crate::request::{present, AdmissionRequest, ValidatePayload};
use crate::settings::Settings;
use crate::statefulset::{self, StatefulSet, StatefulSetSpec};
use crate::verdict::{self, Verdict};

/// Evaluates one `validate` payload. Every outcome is a verdict: bad input is
/// refused with code 400, never a guest error (which policy-server turns into a 500).
pub fn evaluate(payload: &[u8], cluster: &mut dyn Cluster) -> ValidationResponse {
    let payload = match ValidatePayload::parse(payload) {
        Ok(payload) => payload,
        Err(e) => {
            return verdict::bad_request(format!("the admission request does not decode: {e}"))
        }
    };
    let settings = match payload.settings.map_or(Ok(Settings::default()), |raw| {
        Settings::from_json(raw.as_bytes())
    }) {
        Ok(settings) => settings,
        Err(e) => return verdict::bad_request(format!("invalid policy settings: {e}")),
    };
    let request = payload.request;
    let operation = request.operation.as_deref().unwrap_or("");

    // The policy judges the StatefulSet object; subresource writes (status,
    // scale) cannot change the fields it checks beyond replicas.
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return verdict::accept(Vec::new());
    }
    if request.kind.is("", "Service") && operation == "DELETE" {
        return service_delete(&request, &settings, cluster);
    }
    if !request.kind.is("apps", "StatefulSet") {
        return verdict::accept(vec![format!(
            "statefulset-policy judges StatefulSets (and Service deletions) but received a {}: check the policy's rules",
            request.kind.describe()
        )]);
    }
    match operation {
        "CREATE" | "UPDATE" => {
            judge_statefulset(&request, operation == "CREATE", &settings, cluster)
        }
        _ => verdict::accept(Vec::new()),
    }
}

fn judge_statefulset(
    request: &AdmissionRequest,
    create: bool,
    settings: &Settings,
    cluster: &mut dyn Cluster,
) -> ValidationResponse {
    // Decode
    let Some(raw) = present(request.object) else {
        return verdict::bad_request("the admission request has no object".into());
    };
    let mut sts = match decode(raw, request) {
        Ok(sts) => sts,
        Err(message) => return verdict::bad_request(message),
    };
    let subject = subject(&sts);

    // Mutate: defaults on CREATE only; the checks then judge the mutated object.
    let mut mutated_object = None;
    // Reading the whole object as JSON is the costliest step of an evaluation:
    // it is skipped when no default can apply.
    if create
        && settings.defaults.any()
        && !defaults::opted_out(&sts.metadata.annotations)
        && defaults::may_change(&sts, &settings.defaults)
    {
        let mut object: serde_json::Value = match serde_json::from_str(raw) {
            Ok(object) => object,
            Err(e) => return verdict::bad_request(format!("{subject} does not decode: {e}")),
        };
        if defaults::apply(&mut object, &settings.defaults) {
            match defaulted_spec(&object, &mut sts.spec) {
                Ok(spec) => sts.spec = spec,
                Err(e) => {
                    return verdict::bad_request(format!(
                        "{subject} does not decode after defaulting: spec.{e}"
                    ))
                }
            }
            mutated_object = Some(object);
        }
    }

    // Check, and on UPDATE recognise what the old object already violated.
    let facts = ClusterFacts::gather(&sts, settings, cluster);
    let violations = checks::run_all(&sts, settings, &facts);
    let previous = match present(request.old_object).map(|old| decode(old, request)) {
        Some(Ok(old)) if !create => checks::run_all(&old, settings, &facts),
        _ => Vec::new(),
    };

    // Respond
    Verdict::from_violations(violations, &previous, settings).respond(&subject, mutated_object)
}

/// The view of the defaulted object's spec. Defaults write only under `spec`
/// (an object, or nothing changes) and never in its pod template: the rest of
/// the view stands, and the spec is read again from its text without the
/// template, which is the bulk of a large object; the template's view moves
/// over from `before`. (The decoder for text is in the module anyway; one for
/// `serde_json::Value` would add a tenth to its size.)
fn defaulted_spec(
    object: &serde_json::Value,
    before: &mut StatefulSetSpec,
) -> Result<StatefulSetSpec, statefulset::DecodeError> {
    let spec: serde_json::Map<String, serde_json::Value> = object
        .get("spec")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(key, _)| *key != "template")
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let spec = serde_json::Value::Object(spec).to_string();
    let spec = statefulset::decode_unique_keys::<StatefulSetSpec>(&spec)?;
    Ok(StatefulSetSpec {
        template: std::mem::take(&mut before.template),
        ..spec
    })
}

/// `service-in-use`: a Service DELETE that would take the DNS names of live sets.
fn service_delete(
    request: &AdmissionRequest,
    settings: &Settings,
    cluster: &mut dyn Cluster,
) -> ValidationResponse {
    if settings.action(CheckId::ServiceInUse) == Action::Off {
        return verdict::accept(Vec::new());
    }
    let namespace = request.namespace.as_deref().unwrap_or_default();
    let service = request.name.as_deref().unwrap_or_default();
    let violations = match cluster.stateful_sets(namespace) {
        Ok(sets) => services_in_use(service, namespace, &sets),
        Err(error) => {
            let mut violation = Violation::new(
                CheckId::ServiceInUse,
                format!("Service {namespace}/{service}"),
                quote(service),
                format!(
                    "the look-up of StatefulSets failed ({}); grant the policy apps/v1/StatefulSet in contextAwareResources",
                    error.0
                ),
            );
            violation.lookup_failed = true;
            vec![violation]
        }
    };
    Verdict::from_violations(violations, &[], settings)
        .respond(&format!("deleting Service {namespace}/{service}"), None)
}

fn decode(raw: &str, request: &AdmissionRequest) -> Result<StatefulSet, String> {
    let decoded = if request.keys_checked {
        statefulset::decode_unique_keys::<StatefulSet>(raw)
    } else {
        statefulset::decode::<StatefulSet>(raw)
    };
    decoded
        .map(|sts| with_namespace(sts, request))
        .map_err(
            |e| match request.name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => format!("StatefulSet {name} does not decode: {e}"),
                None => format!("the StatefulSet does not decode: {e}"),
            },
        )
}

/// The namespace of the request when the object leaves it out.
fn with_namespace(mut sts: StatefulSet, request: &AdmissionRequest) -> StatefulSet {
    if sts.metadata.namespace.is_empty() {
        sts.metadata.namespace = request.namespace.clone().unwrap_or_default();
    }
    if sts.metadata.name.is_empty() {
        sts.metadata.name = request.name.clone().unwrap_or_default();
    }
    sts
}

fn subject(sts: &StatefulSet) -> String {
    format!(
        "StatefulSet {}/{}",
        sts.metadata.namespace, sts.metadata.name
    )
}

#[cfg(test)]
mod tests {
    use super::defaulted_spec;
    use crate::defaults;
    use crate::settings::Settings;
    use crate::statefulset::{decode, decode_value, StatefulSet};

    /// Reading the defaulted spec from its text gives the view that reading
    /// the whole defaulted object would.
    #[test]
    fn the_defaulted_spec_reads_as_the_whole_defaulted_object() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let settings = Settings::from_json(
            br#"{"defaults": {"podManagementPolicy": "Parallel", "partition": 1,
                "storageClassName": "standard",
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"}}}"#,
        )
        .expect("settings");
        let mut defaulted = 0;
        for dir in ["e2e/requests", "examples/requests"] {
            for entry in std::fs::read_dir(root.join(dir)).expect(dir).flatten() {
                let text = std::fs::read_to_string(entry.path()).expect("a request");
                let Ok(request) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                let request = request.get("request").unwrap_or(&request);
                let Some(object) = request.get("object").filter(|o| o.is_object()) else {
                    continue;
                };
                let Ok(mut sts) = decode::<StatefulSet>(&object.to_string()) else {
                    continue;
                };
                let mut mutated = object.clone();
                if !defaults::apply(&mut mutated, &settings.defaults) {
                    continue;
                }
                let whole: StatefulSet = decode_value(&mutated).expect("the whole object");
                let spec = defaulted_spec(&mutated, &mut sts.spec).expect("the spec");
                assert_eq!(
                    format!("{spec:?}"),
                    format!("{:?}", whole.spec),
                    "{}",
                    entry.path().display()
                );
                defaulted += 1;
            }
        }
        assert!(defaulted > 10, "{defaulted}");
    }
}
