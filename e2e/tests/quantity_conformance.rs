//! The quantity conformance corpus (`tests/conformance/quantities.yml`, taken
//! from Kubernetes' code and tests) through the built module: each vector that
//! can reach a webhook as written becomes a claim's `requests.storage`, judged
//! with `minSize` and `maxSize` both set to the value Kubernetes computes. The
//! module must accept exactly the vectors Kubernetes reads as that value and
//! refuse as malformed exactly those Kubernetes refuses.
//!
//! Module: `$POLICY_MODULE`, default the repository root's `annotated-policy.wasm`.

mod common;

use serde::Deserialize;
use serde_json::{json, Value};

use policy_host::{settings_object, AdmissionRequest, Evaluator, EvaluatorOptions};

use common::{policy_module, repository_root};

#[derive(Deserialize)]
struct Corpus {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    parse: Option<String>,
    json: Option<String>,
    #[serde(default = "accepted")]
    valid: bool,
    value: Option<String>,
}

fn accepted() -> bool {
    true
}

/// The storage request as the API server would send it, if it can send it
/// written this way: policy-server hands the guest a re-serialized request, so
/// only JSON text that a serializer writes back unchanged reaches the policy
/// as written (an escaped `\u0032`, a number like `1.5e9` or `null` do not).
fn storage_value(vector: &Vector) -> Option<Value> {
    let raw = match (&vector.parse, &vector.json) {
        // Through JSON, ParseQuantity's input is trimmed first: only texts
        // without surrounding whitespace read the same way.
        (Some(text), None) if text.trim() == text => serde_json::to_string(text).ok()?,
        (None, Some(raw)) => raw.clone(),
        _ => return None,
    };
    let value: Value = serde_json::from_str(&raw).ok()?;
    let unchanged = serde_json::to_string(&value).ok()? == raw;
    (unchanged && !value.is_null()).then_some(value)
}

#[test]
fn quantity_vectors_through_the_built_module() {
    let module = policy_module();
    let evaluator = Evaluator::new(&module, EvaluatorOptions::default()).expect("module loads");
    let corpus: Corpus = serde_yaml::from_str(
        &std::fs::read_to_string(repository_root().join("tests/conformance/quantities.yml"))
            .expect("corpus"),
    )
    .expect("corpus parses");
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repository_root().join("e2e/requests/quantities-api-server-forms.json"),
        )
        .expect("request"),
    )
    .expect("request parses");

    let (mut judged, mut refused_as_malformed) = (0, 0);
    let mut failures = Vec::new();
    for vector in &corpus.vectors {
        let Some(storage) = storage_value(vector) else {
            continue;
        };
        let mut request = template.clone();
        let claims = request
            .pointer_mut("/object/spec/volumeClaimTemplates")
            .and_then(Value::as_array_mut)
            .expect("claims");
        claims.truncate(1);
        claims[0]["spec"]["resources"]["requests"]["storage"] = storage.clone();
        // The one claim left is the one the container mounts.
        if let Some(mounts) = request
            .pointer_mut("/object/spec/template/spec/containers/0/volumeMounts")
            .and_then(Value::as_array_mut)
        {
            mounts.truncate(1);
        }
        // Bounds equal to Kubernetes' value: accepted iff read as that value.
        // A refused vector gets bounds it could not fail by value.
        let bound = vector.value.clone().unwrap_or_else(|| "0".to_owned());
        let (min, max) = if vector.valid {
            (bound.clone(), bound)
        } else {
            ("-1e2147483647".to_owned(), "1e2147483647".to_owned())
        };
        let settings = settings_object(json!({
            "serviceName": {"mustExist": false, "mustBeHeadless": false, "mustSelectPods": false},
            "storage": {"minSize": min, "maxSize": max},
        }))
        .expect("settings");
        let admission = AdmissionRequest::from_json(&request).expect("admission request");
        let evaluation = evaluator
            .instantiate(None)
            .expect("instance")
            .validate(&admission, &settings);
        let response = &evaluation.response;
        let message = response
            .status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default();
        judged += 1;
        let malformed =
            message.contains("[storage-size]") && message.contains("is not a valid quantity");
        match (vector.valid, response.allowed) {
            (true, true) => {}
            (false, false) if malformed => refused_as_malformed += 1,
            (true, false) => failures.push(format!(
                "{storage}: Kubernetes reads {:?}, the module refused: {message}",
                vector.value
            )),
            (false, _) => failures.push(format!(
                "{storage}: Kubernetes refuses it, the module answered allowed={} {message}",
                response.allowed
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {judged} vectors judged differently from Kubernetes:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(judged >= 150, "only {judged} vectors could be sent");
    assert!(
        refused_as_malformed >= 20,
        "only {refused_as_malformed} refused vectors"
    );
}
