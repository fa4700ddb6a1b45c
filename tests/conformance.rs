//! Conformance with Kubernetes: test vectors taken from Kubernetes' own code
//! and tests, one data file per topic in `tests/conformance/<topic>.yml`, one
//! test function per topic below. Every vector names the Kubernetes file and
//! function or test it comes from (`source`), so a disagreement can be checked
//! against Kubernetes rather than against this policy.
//!
//! To add a topic: write `tests/conformance/<topic>.yml`, a struct for its
//! vectors, and a test function that calls [`load`] and reports every failing
//! vector through [`Report`].

use std::fmt::Display;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use serde_json::{json, Value};

use statefulset_policy::cluster::{default_storage_class, ServiceSpec, StorageClass};
use statefulset_policy::names::{is_dns1035_label, is_dns1123_label};
use statefulset_policy::quantity::Quantity;

mod common;
use common::*;

/// Reads `tests/conformance/<topic>.yml`; unknown keys are errors.
fn load<T: DeserializeOwned>(topic: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(format!("{topic}.yml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Collects the failures of one topic, to report them all at once.
struct Report {
    topic: &'static str,
    checked: usize,
    failures: Vec<String>,
}

impl Report {
    fn new(topic: &'static str) -> Self {
        Report {
            topic,
            checked: 0,
            failures: Vec::new(),
        }
    }

    /// Records one vector; `problems` lists what disagreed with Kubernetes.
    fn vector(&mut self, what: impl Display, source: &str, problems: Vec<String>) {
        self.checked += 1;
        if !source.contains(".go") {
            self.failures.push(format!(
                "{what}: source {source:?} names no Kubernetes file"
            ));
        }
        for problem in problems {
            self.failures
                .push(format!("{what}: {problem}\n    source: {source}"));
        }
    }

    fn finish(self, at_least: usize) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} vectors disagree with Kubernetes:\n{}",
            self.topic,
            self.failures.len(),
            self.checked,
            self.failures.join("\n")
        );
        assert!(
            self.checked >= at_least,
            "{}: only {} vectors, expected at least {at_least}",
            self.topic,
            self.checked
        );
    }
}

// ---------------------------------------------------------------- quantities

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantityVectors {
    vectors: Vec<QuantityVector>,
    comparisons: Vec<QuantityComparison>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantityVector {
    /// Given to `ParseQuantity` as is.
    parse: Option<String>,
    /// A JSON value as written, read as `Quantity.UnmarshalJSON` reads it.
    json: Option<String>,
    #[serde(default = "accepted")]
    valid: bool,
    /// The exact value, as a decimal number.
    value: Option<String>,
    format: Option<String>,
    canonical: Option<String>,
    source: String,
    #[allow(dead_code)]
    note: Option<String>,
}

fn accepted() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantityComparison {
    a: String,
    b: String,
    /// -1: a < b, 0: equal, 1: a > b (Go's `Cmp`).
    order: i8,
    source: String,
}

/// A decimal number written `[-]digits[.digits][e[-]digits]`, reduced to its
/// sign, significant digits and power of ten. Written for this test alone, so
/// that expected values are not read by the parser under test.
fn exact(number: &str) -> Result<(bool, String, i64), String> {
    let (negative, rest) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, mut exponent) = match rest.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().map_err(|e| format!("{number}: {e}"))?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(format!("{number:?} is not a decimal number"));
    }
    exponent -= i64::try_from(fraction.len()).map_err(|e| e.to_string())?;
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        return Ok((false, String::new(), 0));
    }
    exponent += i64::try_from(digits.len() - significant.len()).map_err(|e| e.to_string())?;
    Ok((negative, significant.to_owned(), exponent))
}

fn check_quantity(vector: &QuantityVector) -> Vec<String> {
    let mut problems = Vec::new();
    let parsed = match (&vector.parse, &vector.json) {
        (Some(text), None) => Quantity::parse(text),
        (None, Some(raw)) => Quantity::from_json(raw),
        _ => return vec!["give exactly one of `parse` and `json`".to_owned()],
    };
    let quantity = match (parsed, vector.valid) {
        (Ok(quantity), true) => quantity,
        (Ok(quantity), false) => {
            return vec![format!(
                "Kubernetes refuses it, the policy reads {}",
                quantity.exact_decimal()
            )]
        }
        (Err(_), false) => {
            if vector.value.is_some() || vector.format.is_some() || vector.canonical.is_some() {
                problems.push("an invalid vector has no value, format or canonical".to_owned());
            }
            return problems;
        }
        (Err(e), true) => return vec![format!("Kubernetes accepts it, the policy refuses: {e}")],
    };
    match vector.value.as_deref().map(exact) {
        None => problems.push("a valid vector needs its value".to_owned()),
        Some(Err(e)) => problems.push(e),
        Some(Ok(expected)) => match exact(&quantity.exact_decimal()) {
            Ok(got) if got == expected => {}
            Ok(_) => problems.push(format!(
                "value: Kubernetes {}, policy {}",
                vector.value.as_deref().unwrap_or_default(),
                quantity.exact_decimal()
            )),
            Err(e) => problems.push(format!("the policy's value does not read back: {e}")),
        },
    }
    if let Some(format) = &vector.format {
        let got = format!("{:?}", quantity.format());
        if &got != format {
            problems.push(format!("format: Kubernetes {format}, policy {got}"));
        }
    }
    if let Some(canonical) = &vector.canonical {
        let got = quantity.canonical();
        if &got != canonical {
            problems.push(format!(
                "canonical: Kubernetes {canonical:?}, policy {got:?}"
            ));
        }
    }
    problems
}

/// Kubernetes 1.34/1.35 quantities: which texts are accepted, the exact value
/// of each, its format and the string the API server writes back.
#[test]
fn quantities() {
    let data: QuantityVectors = load("quantities");
    let mut report = Report::new("quantities");
    for vector in &data.vectors {
        let input = match (&vector.parse, &vector.json) {
            (Some(text), _) => format!("parse {text:?}"),
            (_, Some(raw)) => format!("json {raw}"),
            _ => "a vector without input".to_owned(),
        };
        report.vector(input, &vector.source, check_quantity(vector));
    }
    for comparison in &data.comparisons {
        let problems = match (
            Quantity::parse(&comparison.a),
            Quantity::parse(&comparison.b),
        ) {
            (Ok(a), Ok(b)) => {
                let got = a.cmp(&b) as i8;
                if got == comparison.order {
                    Vec::new()
                } else {
                    vec![format!(
                        "Kubernetes orders them {}, the policy {got}",
                        comparison.order
                    )]
                }
            }
            _ => vec!["both sides must be valid quantities".to_owned()],
        };
        let what = format!("compare {:?} with {:?}", comparison.a, comparison.b);
        report.vector(what, &comparison.source, problems);
    }
    // The corpus must keep covering both readings and both verdicts.
    let count = |f: &dyn Fn(&QuantityVector) -> bool| data.vectors.iter().filter(|v| f(v)).count();
    assert!(count(&|v| v.json.is_some()) >= 10, "too few JSON vectors");
    assert!(count(&|v| !v.valid) >= 20, "too few refused vectors");
    assert!(
        count(&|v| v.canonical.is_some()) >= 50,
        "too few canonical forms"
    );
    report.finish(150);
}

#[test]
fn the_decimal_reader_of_this_test_is_exact() {
    assert_eq!(
        exact("1073849198.1824"),
        Ok((false, "10738491981824".into(), -4))
    );
    assert_eq!(exact("-0.000000001"), Ok((true, "1".into(), -9)));
    assert_eq!(exact("15e2147483647"), Ok((false, "15".into(), 2147483647)));
    assert_eq!(exact("1000"), Ok((false, "1".into(), 3)));
    assert_eq!(exact("-0.0"), Ok((false, String::new(), 0)));
    assert!(exact("1Gi").is_err());
    assert!(exact("").is_err());
}

// ------------------------------------------------------------- service names

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceNames {
    vectors: Vec<ServiceName>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceName {
    name: String,
    dns1123_label: bool,
    dns1035_label: bool,
    source: String,
}

/// Which serviceNames a pod's subdomain and a Service name can be, and what
/// the policy makes of each: a name that is no DNS-1123 label is refused by
/// service-name-valid without a look-up (pod validation refuses it as every
/// pod's subdomain); `""` is no name (service-name-required warns); any other
/// is looked up once (service-exists warns: the fake cluster has no Service).
#[test]
fn service_names() {
    let data: ServiceNames = load("service-names");
    let mut report = Report::new("service names");
    for vector in &data.vectors {
        let name = &vector.name;
        let mut problems = Vec::new();
        if is_dns1123_label(name) != vector.dns1123_label {
            problems.push(format!("IsDNS1123Label is {}", vector.dns1123_label));
        }
        if is_dns1035_label(name) != vector.dns1035_label {
            problems.push(format!("IsDNS1035Label is {}", vector.dns1035_label));
        }
        let mut fake = FakeCluster::empty();
        let response = create(with(sts(), "/spec/serviceName", json!(name))).run(&mut fake);
        let denials = check_ids(response.message.as_deref().unwrap_or_default());
        let warnings = check_ids(&response.warnings.clone().unwrap_or_default().join("\n"));
        let ids = if denials.is_empty() {
            warnings
        } else {
            denials
        };
        if name.is_empty() {
            if !fake.calls.is_empty() || ids != ["service-name-required"] || !response.accepted {
                problems.push(format!(
                    "accepted with a service-name-required warning and no look-up expected, got {ids:?} after {:?}",
                    fake.calls
                ));
            }
        } else if vector.dns1123_label {
            if fake.calls != vec![Call::service(NS, name)] {
                problems.push(format!(
                    "one Service look-up expected, made {:?}",
                    fake.calls
                ));
            }
            if ids != ["service-exists"] || !response.accepted {
                problems.push(format!(
                    "accepted with only a service-exists warning (not found) expected, got {ids:?}"
                ));
            }
        } else {
            if !fake.calls.is_empty() {
                problems.push(format!("no look-up expected, made {:?}", fake.calls));
            }
            if ids != ["service-name-valid"] || response.accepted {
                problems.push(format!("a service-name-valid denial expected, got {ids:?}"));
            }
        }
        report.vector(format!("serviceName {name:?}"), &vector.source, problems);
    }
    report.finish(45);
}

// --------------------------------------------------- default storage classes

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultClassCases {
    cases: Vec<DefaultClassCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultClassCase {
    description: String,
    classes: Vec<ClassVector>,
    default: Option<String>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClassVector {
    name: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
    creation_timestamp: Option<String>,
}

impl ClassVector {
    /// The StorageClass as the API server lists it.
    fn object(&self) -> Value {
        let mut metadata = json!({"name": self.name, "annotations": self.annotations});
        if let Some(timestamp) = &self.creation_timestamp {
            metadata["creationTimestamp"] = json!(timestamp);
        }
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": metadata, "provisioner": "csi.example.com"})
    }
}

/// The class a claim without a class gets, and the allow list judging it.
#[test]
fn default_storage_classes() {
    let data: DefaultClassCases = load("default-storage-classes");
    let mut report = Report::new("default storage classes");
    for case in &data.cases {
        let mut problems = Vec::new();
        let classes: Vec<StorageClass> = case
            .classes
            .iter()
            .map(|class| serde_json::from_value(class.object()).expect("a StorageClass"))
            .collect();
        let got = default_storage_class(&classes).map(|c| c.metadata.name.clone());
        if got != case.default {
            problems.push(format!(
                "default: Kubernetes {:?}, policy {got:?}",
                case.default
            ));
        }
        // Through the admission flow: a claim without class under an allowlist.
        let cluster = || {
            case.classes
                .iter()
                .fold(FakeCluster::healthy_services(), |fake, class| {
                    fake.with_storage_class(class.object())
                })
        };
        let claims = || sts_with_claims(vec![claim("data", None, "1Gi")]);
        let allow = |list: Vec<&str>| json!({"storage": {"allowedStorageClasses": list}});
        match &case.default {
            Some(default) => {
                let response = create(claims())
                    .settings(allow(vec![default]))
                    .run(&mut cluster());
                if !response.accepted {
                    problems.push(format!(
                        "allowing {default:?} refused: {:?}",
                        response.message
                    ));
                }
                let response = create(claims())
                    .settings(allow(vec!["not-a-class"]))
                    .run(&mut cluster());
                let expected = format!("is absent (cluster default {default:?})");
                if !response
                    .message
                    .as_deref()
                    .unwrap_or_default()
                    .contains(&expected)
                {
                    problems.push(format!("expected {expected:?} in {:?}", response.message));
                }
            }
            None => {
                let response = create(claims())
                    .settings(allow(vec!["not-a-class"]))
                    .run(&mut cluster());
                if !response
                    .message
                    .as_deref()
                    .unwrap_or_default()
                    .contains("the cluster has no default class")
                {
                    problems.push(format!(
                        "no default: expected a refusal, got {:?}",
                        response.message
                    ));
                }
            }
        }
        report.vector(&case.description, &case.source, problems);
    }
    report.finish(10);
}

// --------------------------------------------------------- headless Services

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadlessCases {
    cases: Vec<HeadlessCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadlessCase {
    description: String,
    spec: Value,
    headless: bool,
    source: String,
}

/// Which governing Services give the pods their DNS names.
#[test]
fn headless_services() {
    let data: HeadlessCases = load("headless-services");
    let mut report = Report::new("headless services");
    for case in &data.cases {
        let mut problems = Vec::new();
        let spec: ServiceSpec = serde_json::from_value(case.spec.clone()).expect("a Service spec");
        if spec.is_headless() != case.headless {
            problems.push(format!(
                "headless: Kubernetes {}, policy {}",
                case.headless, !case.headless
            ));
        }
        let mut fake = FakeCluster::empty().with_service(NS, NAME, json!({"spec": case.spec}));
        let response = create(sts())
            .settings(json!({"serviceName": {"mustSelectPods": false}}))
            .run(&mut fake);
        // service-headless warns by default: a warning is the verdict here.
        let warnings = response.warnings.clone().unwrap_or_default().join("\n");
        let reported = check_ids(&warnings)
            .iter()
            .any(|id| id == "service-headless");
        if reported == case.headless || !response.accepted {
            problems.push(format!("service-headless: {:?}", response.warnings));
        }
        report.vector(&case.description, &case.source, problems);
    }
    report.finish(8);
}

// ------------------------------------------------- API-server-defaulted shapes

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultedCases {
    cases: Vec<DefaultedCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultedCase {
    description: String,
    source: String,
    written: Value,
    defaulted: Value,
}

/// The settings both shapes are judged under: checks that read defaulted
/// fields, and defaults that write them.
fn defaulted_profiles() -> Vec<(&'static str, Value)> {
    let platform: Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/settings.yml"),
        )
        .expect("examples/settings.yml"),
    )
    .expect("settings.yml is YAML");
    vec![
        ("default", json!({})),
        ("platform", platform),
        (
            "rollout",
            json!({"rollout": {"allowedPodManagementPolicies": ["Parallel"], "allowedUpdateStrategies": ["OnDelete"]},
                   "enforcement": {"partition-within-replicas": "deny"}}),
        ),
        (
            "storage",
            json!({"storage": {"allowedVolumeModes": ["Block"], "requireRetainPolicy": true, "allowedStorageClasses": ["standard"]}}),
        ),
        (
            "every default",
            json!({"defaults": {"podManagementPolicy": "Parallel", "partition": 2, "storageClassName": "fast-ssd",
                   "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}}),
        ),
    ]
}

/// The fields the defaults write, read from the object as stored after the
/// policy (the mutated object when there is one).
fn defaulted_fields(object: &Value) -> Vec<(String, Value)> {
    let mut fields: Vec<(String, Value)> = [
        "/spec/podManagementPolicy",
        "/spec/updateStrategy/rollingUpdate/partition",
        "/spec/persistentVolumeClaimRetentionPolicy/whenDeleted",
        "/spec/persistentVolumeClaimRetentionPolicy/whenScaled",
    ]
    .iter()
    .map(|path| {
        (
            path.to_string(),
            object.pointer(path).cloned().unwrap_or(Value::Null),
        )
    })
    .collect();
    let claims = object
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array);
    for (i, claim) in claims.into_iter().flatten().enumerate() {
        let class = claim
            .pointer("/spec/storageClassName")
            .cloned()
            .unwrap_or(Value::Null);
        fields.push((format!("claim {i} storageClassName"), class));
    }
    fields
}

/// A cluster in which every set of the corpus has its headless Service.
fn defaulted_cluster(object: &Value) -> FakeCluster {
    let name = object["spec"]["serviceName"].as_str().unwrap_or_default();
    let labels = object["spec"]["template"]["metadata"]["labels"].clone();
    FakeCluster::empty()
        .with_service(
            "default",
            name,
            json!({"spec": {"clusterIP": "None", "selector": labels}}),
        )
        .with_class("standard", true, Some(true))
        .with_class("fast-ssd", false, Some(true))
}

/// What must not depend on the shape: the verdict, the checks that denied
/// and warned, and the fields the defaults write (before, and as stored).
struct ShapeVerdict {
    verdict: (bool, Option<u16>, Vec<String>, Vec<String>),
    before: Vec<(String, Value)>,
    after: Vec<(String, Value)>,
}

fn shape_verdict(object: &Value, settings: &Value) -> ShapeVerdict {
    let response = create(object.clone())
        .settings(settings.clone())
        .run(&mut defaulted_cluster(object));
    let warnings = response.warnings.clone().unwrap_or_default().join("\n");
    let stored = response
        .mutated_object
        .clone()
        .unwrap_or_else(|| object.clone());
    let mut denied = check_ids(response.message.as_deref().unwrap_or_default());
    denied.sort();
    let mut warned = check_ids(&warnings);
    warned.sort();
    ShapeVerdict {
        verdict: (response.accepted, response.code, denied, warned),
        before: defaulted_fields(object),
        after: defaulted_fields(&stored),
    }
}

/// The policy judges an object as a client wrote it and as the API server
/// hands it over alike: same verdict, same checks, and the same values
/// where its defaults write.
#[test]
fn defaulted_request_shapes() {
    let data: DefaultedCases = load("defaulted-requests");
    let mut report = Report::new("defaulted request shapes");
    for case in &data.cases {
        for (label, settings) in defaulted_profiles() {
            let written = shape_verdict(&case.written, &settings);
            let defaulted = shape_verdict(&case.defaulted, &settings);
            let mut problems = Vec::new();
            if written.verdict != defaulted.verdict {
                problems.push(format!(
                    "verdicts differ: written {:?}, defaulted {:?}",
                    written.verdict, defaulted.verdict
                ));
            }
            // A field the policy wrote in either shape ends alike in both.
            let changed = |shape: &ShapeVerdict, i: usize| shape.before[i] != shape.after[i];
            for i in 0..written.after.len().min(defaulted.after.len()) {
                if (changed(&written, i) || changed(&defaulted, i))
                    && written.after[i] != defaulted.after[i]
                {
                    problems.push(format!(
                        "{}: written ends {}, defaulted ends {}",
                        written.after[i].0, written.after[i].1, defaulted.after[i].1
                    ));
                }
            }
            report.vector(
                format!("{} ({label})", case.description),
                &case.source,
                problems,
            );
        }
    }
    report.finish(16);
}

// ------------------------------------------------------------ replicas

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplicaCases {
    selections: Vec<SelectionCase>,
    budgets: Vec<BudgetCase>,
    spreading: Vec<SpreadingCase>,
    devices: Vec<DeviceCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectionCase {
    description: String,
    set: String,
    replicas: i64,
    #[serde(default)]
    start: i64,
    labels: std::collections::BTreeMap<String, String>,
    selector: Option<statefulset_policy::labels::LabelSelector>,
    selected: Vec<String>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetCase {
    description: String,
    replicas: i64,
    budget: Value,
    allowed: i64,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpreadingCase {
    description: String,
    replicas: i64,
    constraint: Value,
    spreads: bool,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceCase {
    description: String,
    volume: Option<Value>,
    allowed: bool,
    source: String,
}

/// The replicas a [`Selection`] stands for, by pod name.
fn pod_names(
    selection: &statefulset_policy::replicas::Selection,
    replicas: &statefulset_policy::replicas::Replicas,
) -> Vec<String> {
    use statefulset_policy::replicas::Selection;
    let range = replicas.start..replicas.start + replicas.count;
    let ordinals: Vec<i64> = match selection {
        Selection::All => range.collect(),
        Selection::None => Vec::new(),
        Selection::Only(ordinals) => ordinals.clone(),
        Selection::AllBut(left_out) => range.filter(|o| !left_out.contains(o)).collect(),
    };
    ordinals.into_iter().map(|o| replicas.pod_name(o)).collect()
}

/// Which replicas a selector selects, the disruptions a budget allows, whether
/// a spread constraint spreads and which volumes a device may name, each as
/// Kubernetes' controllers, scheduler and validation decide it.
#[test]
fn replicas() {
    use statefulset_policy::replicas::{selected_replicas, Replicas};
    let data: ReplicaCases = load("replicas");
    let mut report = Report::new("replicas");
    for case in &data.selections {
        let replicas = Replicas {
            name: &case.set,
            template_labels: &case.labels,
            start: case.start,
            count: case.replicas,
        };
        let problems = match selected_replicas(case.selector.as_ref(), &replicas) {
            Ok(selection) => {
                let got = pod_names(&selection, &replicas);
                let count = selection.count(&replicas) as usize;
                if got != case.selected || count != got.len() {
                    vec![format!(
                        "Kubernetes selects {:?}, the policy {got:?} ({count})",
                        case.selected
                    )]
                } else {
                    Vec::new()
                }
            }
            Err(why) => vec![format!("the selector was refused: {why}")],
        };
        report.vector(&case.description, &case.source, problems);
    }
    for case in &data.budgets {
        let object = spread(sts(), case.replicas);
        let settings = json!({"availability": {"podDisruptionBudget": true}});
        let mut fake = FakeCluster::healthy().with_pdb(NS, "budget", case.budget.clone());
        let response = create(object).settings(settings).run(&mut fake);
        let warnings = check_ids(&response.warnings.clone().unwrap_or_default().join("\n"));
        let blocks = warnings.iter().any(|id| id == "pdb-allows-disruption");
        let mut problems = Vec::new();
        if !response.accepted || blocks != (case.allowed == 0) {
            problems.push(format!(
                "Kubernetes allows {} disruption(s), the policy warned {warnings:?}",
                case.allowed
            ));
        }
        report.vector(&case.description, &case.source, problems);
    }
    for case in &data.spreading {
        let mut constraint = case.constraint.clone();
        constraint["topologyKey"] = json!("kubernetes.io/hostname");
        constraint["labelSelector"] = json!({"matchLabels": {"app": "web"}});
        let object = with(sts(), "/spec/replicas", json!(case.replicas));
        let object = with(
            object,
            "/spec/template/spec/topologySpreadConstraints",
            json!([constraint]),
        );
        let response = create(object).run(&mut FakeCluster::healthy());
        let warnings = check_ids(&response.warnings.clone().unwrap_or_default().join("\n"));
        let spreads = !warnings.iter().any(|id| id == "pods-spread");
        let mut problems = Vec::new();
        if spreads != case.spreads {
            problems.push(format!(
                "Kubernetes spreads: {}, the policy warned {warnings:?}",
                case.spreads
            ));
        }
        report.vector(&case.description, &case.source, problems);
    }
    for case in &data.devices {
        let mut object = sts();
        object["spec"]["template"]["spec"]["containers"][0]["volumeDevices"] =
            json!([{"name": "raw", "devicePath": "/dev/xvda"}]);
        match &case.volume {
            Some(volume) => object["spec"]["template"]["spec"]["volumes"] = json!([volume]),
            None => {
                object["spec"]["volumeClaimTemplates"] = json!([claim("raw", None, "1Gi")]);
            }
        }
        let response = create(object).run(&mut FakeCluster::healthy());
        let refused = !response.accepted
            && check_ids(response.message.as_deref().unwrap_or_default())
                == ["volume-mounts-resolve"];
        let mut problems = Vec::new();
        if refused == case.allowed || (case.allowed && !response.accepted) {
            problems.push(format!(
                "Kubernetes allows the device: {}, the policy answered {:?}",
                case.allowed, response.message
            ));
        }
        report.vector(&case.description, &case.source, problems);
    }
    report.finish(25);
}
