//! The conformance corpus (`tests/conformance/*.yml`, taken from Kubernetes'
//! code and tests) through the built module, for the topics that are not
//! quantities (those are in `quantity_conformance.rs`): Service names, the
//! default StorageClass, headless Service shapes, and the shapes the API
//! server hands over after defaulting. Look-ups are answered by replay
//! sessions built from each vector, as kwctl would replay them.
//!
//! Module: `$POLICY_MODULE`, default the repository root's `annotated-policy.wasm`.

mod common;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use policy_host::session::{Exchange, ExchangeResponse};
use policy_host::{
    settings_object, AdmissionRequest, Evaluation, Evaluator, EvaluatorOptions, ReplaySession,
};

use common::{check_ids, get_service, message, policy_module, repository_root};

fn evaluator() -> Evaluator {
    Evaluator::new(
        &policy_module(),
        EvaluatorOptions {
            allow_context_aware: true,
            ..EvaluatorOptions::default()
        },
    )
    .expect("the module loads")
}

fn corpus<T: DeserializeOwned>(topic: &str) -> T {
    let path = repository_root().join(format!("tests/conformance/{topic}.yml"));
    let text = std::fs::read_to_string(&path).expect("the corpus file");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A StatefulSet CREATE of `object`, in the namespace `default`.
fn create(object: &Value) -> AdmissionRequest {
    AdmissionRequest::from_json(&json!({
        "uid": "00000000-0000-4000-8000-00000000c0f0",
        "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
        "name": object["metadata"]["name"],
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "conformance"},
        "object": object,
    }))
    .expect("an admission request")
}

/// A web set with one claim without class, naming `service`.
fn web(service: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "serviceName": service, "replicas": 2,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{
                "name": "nginx", "image": "registry.k8s.io/nginx-slim:0.8",
                "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    })
}

fn service_exchange(name: &str, spec: Value) -> Exchange {
    Exchange {
        request: get_service(name),
        response: ExchangeResponse::Success {
            payload: json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"}, "spec": spec})
            .to_string(),
        },
    }
}

fn classes_exchange(classes: &[Value]) -> Exchange {
    let list = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClassList",
        "metadata": {}, "items": classes});
    Exchange::list_all_answered("storage.k8s.io/v1", "StorageClass", &list)
}

fn evaluate(
    evaluator: &Evaluator,
    object: &Value,
    settings: Value,
    exchanges: Vec<Exchange>,
) -> Evaluation {
    let settings = settings_object(settings).expect("settings");
    evaluator
        .instantiate(Some(ReplaySession::new(exchanges)))
        .expect("an instance")
        .validate(&create(object), &settings)
}

fn finish(topic: &str, checked: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{topic}: {} of {checked} vectors judged differently from Kubernetes through the module:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[derive(Deserialize)]
struct ServiceNames {
    vectors: Vec<ServiceName>,
}

#[derive(Deserialize)]
struct ServiceName {
    name: String,
    dns1123_label: bool,
}

/// A name that is no DNS-1123 label is refused without a look-up; any other
/// is looked up once (here: a headless Service of that name exists).
#[test]
fn service_names_through_the_module() {
    let evaluator = evaluator();
    let data: ServiceNames = corpus("service-names");
    let mut failures = Vec::new();
    for vector in &data.vectors {
        let name = &vector.name;
        let headless = json!({"clusterIP": "None", "selector": {"app": "nginx"}});
        let evaluation = evaluate(
            &evaluator,
            &web(name),
            json!({}),
            vec![service_exchange(name, headless)],
        );
        let ids = check_ids(&message(&evaluation));
        // No name is accepted (a warning); a name that is no DNS-1123 label
        // is refused by service-name-valid (every pod's subdomain), unlooked-up.
        let expected: (bool, usize, Vec<&str>) = if vector.dns1123_label {
            (true, 1, vec![])
        } else if name.is_empty() {
            (true, 0, vec![])
        } else {
            (false, 0, vec!["service-name-valid"])
        };
        let got = (evaluation.response.allowed, evaluation.host_calls, ids);
        if (got.0, got.1) != (expected.0, expected.1) || got.2 != expected.2 {
            failures.push(format!("{name:?}: expected {expected:?}, got {got:?}"));
        }
    }
    finish("service names", data.vectors.len(), failures);
}

#[derive(Deserialize)]
struct DefaultClassCases {
    cases: Vec<DefaultClassCase>,
}

#[derive(Deserialize)]
struct DefaultClassCase {
    description: String,
    classes: Vec<Value>,
    default: Option<String>,
}

/// A claim without class is judged by the default class Kubernetes gives it.
#[test]
fn default_storage_classes_through_the_module() {
    let evaluator = evaluator();
    let data: DefaultClassCases = corpus("default-storage-classes");
    let mut failures = Vec::new();
    for case in &data.cases {
        let classes: Vec<Value> = case
            .classes
            .iter()
            .map(|class| {
                let mut metadata = json!({"name": class["name"]});
                for key in ["annotations", "creationTimestamp"] {
                    if let Some(value) = class.get(key) {
                        metadata[key] = value.clone();
                    }
                }
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": metadata, "provisioner": "csi.example.com"})
            })
            .collect();
        let exchanges = || {
            vec![
                service_exchange(
                    "nginx",
                    json!({"clusterIP": "None", "selector": {"app": "nginx"}}),
                ),
                classes_exchange(&classes),
            ]
        };
        let allow = |class: &str| json!({"storage": {"allowedStorageClasses": [class]}});
        match &case.default {
            Some(default) => {
                let evaluation = evaluate(&evaluator, &web("nginx"), allow(default), exchanges());
                if !evaluation.response.allowed {
                    failures.push(format!(
                        "{}: allowing {default:?} refused: {}",
                        case.description,
                        message(&evaluation)
                    ));
                }
                let evaluation =
                    evaluate(&evaluator, &web("nginx"), allow("not-a-class"), exchanges());
                let expected = format!("is absent (cluster default {default:?})");
                if !message(&evaluation).contains(&expected) {
                    failures.push(format!(
                        "{}: expected {expected:?} in {:?}",
                        case.description,
                        message(&evaluation)
                    ));
                }
            }
            None => {
                let evaluation =
                    evaluate(&evaluator, &web("nginx"), allow("not-a-class"), exchanges());
                if !message(&evaluation).contains("the cluster has no default class") {
                    failures.push(format!(
                        "{}: expected a refusal without default, got {:?}",
                        case.description,
                        message(&evaluation)
                    ));
                }
            }
        }
    }
    finish("default storage classes", data.cases.len(), failures);
}

#[derive(Deserialize)]
struct HeadlessCases {
    cases: Vec<HeadlessCase>,
}

#[derive(Deserialize)]
struct HeadlessCase {
    description: String,
    spec: Value,
    headless: bool,
}

#[test]
fn headless_services_through_the_module() {
    let evaluator = evaluator();
    let data: HeadlessCases = corpus("headless-services");
    let mut failures = Vec::new();
    for case in &data.cases {
        let evaluation = evaluate(
            &evaluator,
            &web("nginx"),
            // service-headless warns by default; raised, its verdict is a denial.
            json!({"serviceName": {"mustSelectPods": false},
                   "enforcement": {"service-headless": "deny"}}),
            vec![service_exchange("nginx", case.spec.clone())],
        );
        let refused = check_ids(&message(&evaluation)).contains(&"service-headless".to_string());
        if refused == case.headless {
            failures.push(format!(
                "{}: headless {}, but: {}",
                case.description,
                case.headless,
                message(&evaluation)
            ));
        }
    }
    finish("headless services", data.cases.len(), failures);
}

#[derive(Deserialize)]
struct DefaultedCases {
    cases: Vec<DefaultedCase>,
}

#[derive(Deserialize)]
struct DefaultedCase {
    description: String,
    written: Value,
    defaulted: Value,
}

/// The same verdict, and the same checks, for an object as written and as
/// the API server hands it over after defaulting.
#[test]
fn defaulted_request_shapes_through_the_module() {
    let evaluator = evaluator();
    let data: DefaultedCases = corpus("defaulted-requests");
    let platform: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repository_root().join("examples/settings.yml"))
            .expect("examples/settings.yml"),
    )
    .expect("YAML");
    let profiles = [
        json!({}),
        platform,
        json!({"rollout": {"allowedPodManagementPolicies": ["Parallel"], "allowedUpdateStrategies": ["OnDelete"]}}),
        json!({"storage": {"allowedVolumeModes": ["Block"], "requireRetainPolicy": true}}),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &data.cases {
        for settings in &profiles {
            let verdict = |object: &Value| {
                let service = object["spec"]["serviceName"].as_str().unwrap_or_default();
                let labels = object["spec"]["template"]["metadata"]["labels"].clone();
                let standard = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                    "allowVolumeExpansion": true});
                let fast = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": {"name": "fast-ssd"}, "allowVolumeExpansion": true});
                let evaluation = evaluate(
                    &evaluator,
                    object,
                    settings.clone(),
                    vec![
                        service_exchange(service, json!({"clusterIP": "None", "selector": labels})),
                        classes_exchange(&[standard, fast]),
                    ],
                );
                let warnings = evaluation.response.warnings.clone().unwrap_or_default();
                (
                    evaluation.response.allowed,
                    check_ids(&message(&evaluation)),
                    check_ids(&warnings.join("\n")),
                )
            };
            checked += 1;
            let (written, defaulted) = (verdict(&case.written), verdict(&case.defaulted));
            if written != defaulted {
                failures.push(format!(
                    "{} under {settings}: written {written:?}, defaulted {defaulted:?}",
                    case.description
                ));
            }
        }
    }
    finish("defaulted request shapes", checked, failures);
}
