//! Shared test support: request and object builders, response assertions and
//! [`FakeCluster`], an in-memory [`Cluster`] that answers from its fields and
//! records every call (no global state: each test owns its fake).

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{json, Value};
use statefulset_policy::admission::evaluate;
use statefulset_policy::cluster::{
    Cluster, LookupError, PodDisruptionBudget, Service, StorageClass,
};
use statefulset_policy::json;
use statefulset_policy::statefulset::StatefulSet;
use statefulset_policy::verdict::Response;

/// Namespace and name of the hand-written StatefulSet (and of its Service).
pub const NS: &str = "db";
pub const NAME: &str = "web";

// ---------------------------------------------------------------------------
// The fake cluster

/// One look-up the policy made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Service { namespace: String, name: String },
    StorageClasses,
    StatefulSets { namespace: String },
    PodDisruptionBudgets { namespace: String },
}

impl Call {
    pub fn service(namespace: &str, name: &str) -> Call {
        Call::Service {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn stateful_sets(namespace: &str) -> Call {
        Call::StatefulSets {
            namespace: namespace.into(),
        }
    }

    pub fn pod_disruption_budgets(namespace: &str) -> Call {
        Call::PodDisruptionBudgets {
            namespace: namespace.into(),
        }
    }
}

/// Answers look-ups from its fields; an `*_error` field makes that look-up fail.
#[derive(Debug, Default)]
pub struct FakeCluster {
    /// (namespace, name, Service)
    pub services: Vec<(String, String, Service)>,
    pub service_error: Option<String>,
    pub storage_classes: Vec<StorageClass>,
    pub storage_class_error: Option<String>,
    /// (namespace, StatefulSet)
    pub stateful_sets: Vec<(String, StatefulSet)>,
    pub stateful_set_error: Option<String>,
    /// (namespace, PodDisruptionBudget)
    pub pod_disruption_budgets: Vec<(String, PodDisruptionBudget)>,
    pub pod_disruption_budget_error: Option<String>,
    /// Every call, in order.
    pub calls: Vec<Call>,
}

impl Cluster for FakeCluster {
    fn service(&mut self, namespace: &str, name: &str) -> Result<Option<Service>, LookupError> {
        self.calls.push(Call::service(namespace, name));
        if let Some(error) = &self.service_error {
            return Err(LookupError(error.clone()));
        }
        Ok(self
            .services
            .iter()
            .find(|(ns, n, _)| ns == namespace && n == name)
            .map(|(_, _, service)| service.clone()))
    }

    fn storage_classes(&mut self) -> Result<Vec<StorageClass>, LookupError> {
        self.calls.push(Call::StorageClasses);
        match &self.storage_class_error {
            Some(error) => Err(LookupError(error.clone())),
            None => Ok(self.storage_classes.clone()),
        }
    }

    fn stateful_sets(&mut self, namespace: &str) -> Result<Vec<StatefulSet>, LookupError> {
        self.calls.push(Call::stateful_sets(namespace));
        if let Some(error) = &self.stateful_set_error {
            return Err(LookupError(error.clone()));
        }
        Ok(self
            .stateful_sets
            .iter()
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, sts)| sts.clone())
            .collect())
    }

    fn pod_disruption_budgets(
        &mut self,
        namespace: &str,
    ) -> Result<Vec<PodDisruptionBudget>, LookupError> {
        self.calls.push(Call::pod_disruption_budgets(namespace));
        if let Some(error) = &self.pod_disruption_budget_error {
            return Err(LookupError(error.clone()));
        }
        Ok(self
            .pod_disruption_budgets
            .iter()
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, budget)| budget.clone())
            .collect())
    }
}

impl FakeCluster {
    /// An empty cluster: no Service, no StorageClass, no StatefulSet.
    pub fn empty() -> FakeCluster {
        FakeCluster::default()
    }

    /// The cluster the hand-written StatefulSet fits: headless Service db/web
    /// selecting `app=web`, and the classes `standard` (default, expandable),
    /// `fast` (expandable) and `slow` (not expandable).
    pub fn healthy() -> FakeCluster {
        FakeCluster::healthy_services()
            .with_class("standard", true, Some(true))
            .with_class("fast", false, Some(true))
            .with_class("slow", false, None)
    }

    /// The healthy cluster's Service, and no StorageClass.
    pub fn healthy_services() -> FakeCluster {
        FakeCluster::empty().with_service(
            NS,
            NAME,
            json!({"spec": {"clusterIP": "None", "selector": {"app": "web"}}}),
        )
    }

    /// Adds a Service from its JSON form, as the API server would answer it.
    pub fn with_service(mut self, namespace: &str, name: &str, object: Value) -> FakeCluster {
        let mut object = object;
        object["apiVersion"] = json!("v1");
        object["kind"] = json!("Service");
        object["metadata"] = json!({"name": name, "namespace": namespace});
        let service: Service = serde_json::from_value(object).expect("a Service");
        self.services
            .push((namespace.to_string(), name.to_string(), service));
        self
    }

    /// Adds a StorageClass from its JSON form.
    pub fn with_storage_class(mut self, object: Value) -> FakeCluster {
        let class: StorageClass = serde_json::from_value(object).expect("a StorageClass");
        self.storage_classes.push(class);
        self
    }

    /// Adds a StorageClass `name`, marked default or not, with `allowVolumeExpansion`.
    pub fn with_class(self, name: &str, default: bool, expandable: Option<bool>) -> FakeCluster {
        let mut object = json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name},
            "provisioner": "example.com/csi",
        });
        if default {
            object["metadata"]["annotations"] =
                json!({"storageclass.kubernetes.io/is-default-class": "true"});
        }
        if let Some(expandable) = expandable {
            object["allowVolumeExpansion"] = json!(expandable);
        }
        self.with_storage_class(object)
    }

    /// Adds a StatefulSet of `namespace` from its JSON form.
    pub fn with_stateful_set(mut self, namespace: &str, object: Value) -> FakeCluster {
        let sts: StatefulSet = json::decode(&object.to_string()).expect("a StatefulSet");
        self.stateful_sets.push((namespace.to_string(), sts));
        self
    }

    /// Adds a PodDisruptionBudget `name` of `namespace` with this spec, from its JSON form.
    pub fn with_pdb(mut self, namespace: &str, name: &str, spec: Value) -> FakeCluster {
        let object = json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        });
        let budget: PodDisruptionBudget =
            json::decode(&object.to_string()).expect("a PodDisruptionBudget");
        self.pod_disruption_budgets
            .push((namespace.to_string(), budget));
        self
    }

    pub fn failing_pod_disruption_budgets(mut self, error: &str) -> FakeCluster {
        self.pod_disruption_budget_error = Some(error.into());
        self
    }

    pub fn pod_disruption_budget_calls(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| matches!(c, Call::PodDisruptionBudgets { .. }))
            .count()
    }

    pub fn failing_services(mut self, error: &str) -> FakeCluster {
        self.service_error = Some(error.into());
        self
    }

    pub fn failing_storage_classes(mut self, error: &str) -> FakeCluster {
        self.storage_class_error = Some(error.into());
        self
    }

    pub fn failing_stateful_sets(mut self, error: &str) -> FakeCluster {
        self.stateful_set_error = Some(error.into());
        self
    }

    pub fn storage_class_calls(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| **c == Call::StorageClasses)
            .count()
    }

    pub fn service_calls(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| matches!(c, Call::Service { .. }))
            .count()
    }
}

// ---------------------------------------------------------------------------
// Objects

/// A hand-written StatefulSet db/web with most fields absent: no replicas, no
/// update strategy, no pod management policy, no claims.
pub fn sts() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "serviceName": NAME,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}
            }
        }
    })
}

/// `sts()` with these claim templates, each mounted by the container at
/// `/data/<name>`, as a set mounts its claims (an unmounted claim is a
/// `claims-mounted` warning).
pub fn sts_with_claims(claims: Vec<Value>) -> Value {
    let mut object = sts();
    let mounts: Vec<Value> = claims
        .iter()
        .filter_map(|claim| claim.pointer("/metadata/name").and_then(Value::as_str))
        .map(|name| json!({"name": name, "mountPath": format!("/data/{name}")}))
        .collect();
    object["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = Value::Array(mounts);
    object["spec"]["volumeClaimTemplates"] = Value::Array(claims);
    object
}

/// A preferred pod anti-affinity term on `kubernetes.io/hostname` selecting
/// the set's own pods (`app=web`): what keeps several replicas on different
/// nodes, so that `pods-spread` is satisfied.
pub fn anti_affinity() -> Value {
    json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100,
        "podAffinityTerm": {
            "topologyKey": "kubernetes.io/hostname",
            "labelSelector": {"matchLabels": {"app": "web"}}
        }
    }]}})
}

/// `object` with `replicas` replicas kept apart by [`anti_affinity`].
pub fn spread(object: Value, replicas: i64) -> Value {
    let object = with(object, "/spec/replicas", json!(replicas));
    with(object, "/spec/template/spec/affinity", anti_affinity())
}

/// A claim template `name` requesting `size`, with `spec.storageClassName`
/// set to `class` (absent when `None`).
pub fn claim(name: &str, class: Option<&str>, size: &str) -> Value {
    let mut claim = json!({
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}}
        }
    });
    if let Some(class) = class {
        claim["spec"]["storageClassName"] = json!(class);
    }
    claim
}

/// One reference token of a JSON pointer, unescaped (`~1` is `/`, `~0` is `~`).
fn token(raw: &str) -> String {
    raw.replace("~1", "/").replace("~0", "~")
}

/// A JSON pointer to the annotation `key` of the object's metadata.
pub fn annotation_pointer(key: &str) -> String {
    format!(
        "/metadata/annotations/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// Sets the JSON pointer `pointer` (creating parent objects) to `value`.
pub fn set(object: &mut Value, pointer: &str, value: Value) {
    let mut node = object;
    let keys: Vec<String> = pointer.split('/').skip(1).map(token).collect();
    let (last, parents) = keys.split_last().expect("a non-empty pointer");
    for key in parents {
        node = match node {
            Value::Array(items) => &mut items[key.parse::<usize>().expect("an index")],
            _ => {
                if node.get(key).is_none_or(Value::is_null) {
                    node[key] = json!({});
                }
                &mut node[key]
            }
        };
    }
    match node {
        Value::Array(items) => items[last.parse::<usize>().expect("an index")] = value,
        _ => node[last] = value,
    }
}

/// `object` with `pointer` set to `value`.
pub fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    set(&mut object, pointer, value);
    object
}

/// Removes the JSON pointer `pointer`, keeping the order of the other keys.
pub fn remove(object: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let key = token(key);
    let key = key.as_str();
    let parent = if parent.is_empty() {
        Some(object)
    } else {
        object.pointer_mut(parent)
    };
    match parent? {
        Value::Object(map) => map.shift_remove(key),
        Value::Array(items) => {
            let index: usize = key.parse().ok()?;
            (index < items.len()).then(|| items.remove(index))
        }
        _ => None,
    }
}

/// The captured API-server request (kubectl client-side apply of StatefulSet default/foo).
pub fn real_request() -> Value {
    let text = include_str!("../fixtures/real-create-request.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

/// A cluster that fits the real request: headless Service default/nginx selecting app=nginx.
pub fn real_cluster() -> FakeCluster {
    FakeCluster::empty()
        .with_service(
            "default",
            "nginx",
            json!({"spec": {"clusterIP": "None", "selector": {"app": "nginx"}}}),
        )
        .with_class("my-storage-class", true, Some(true))
}

// ---------------------------------------------------------------------------
// Requests

/// A `validate` payload under construction.
#[derive(Debug, Clone)]
pub struct Req {
    pub request: Value,
    pub settings: Option<Value>,
    /// The four Service checks raised to deny, on top of `settings`, as the
    /// platform-guardrails profile has them (they warn by default).
    pub services_deny: bool,
}

fn request_for(operation: &str, object: Option<Value>, old: Option<Value>) -> Value {
    let source = object.as_ref().or(old.as_ref());
    let name = source.and_then(|o| o.pointer("/metadata/name")).cloned();
    let namespace = source
        .and_then(|o| o.pointer("/metadata/namespace"))
        .cloned()
        .unwrap_or(json!(NS));
    let mut request = json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
        "requestKind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
    });
    if let Some(name) = name {
        request["name"] = name;
    }
    if let Some(object) = object {
        request["object"] = object;
    }
    if let Some(old) = old {
        request["oldObject"] = old;
    }
    request
}

/// A StatefulSet CREATE of `object`.
pub fn create(object: Value) -> Req {
    Req {
        request: request_for("CREATE", Some(object), None),
        settings: None,
        services_deny: false,
    }
}

/// A StatefulSet UPDATE from `old` to `object`.
pub fn update(object: Value, old: Value) -> Req {
    Req {
        request: request_for("UPDATE", Some(object), Some(old)),
        settings: None,
        services_deny: false,
    }
}

/// The DELETE of Service `namespace/name` (the object is absent, oldObject present).
pub fn delete_service(namespace: &str, name: &str) -> Req {
    Req {
        request: json!({
            "uid": "1b2c3d",
            "kind": {"group": "", "version": "v1", "kind": "Service"},
            "resource": {"group": "", "version": "v1", "resource": "services"},
            "namespace": namespace,
            "name": name,
            "operation": "DELETE",
            "userInfo": {"username": "alice"},
            "oldObject": {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"clusterIP": "None", "selector": {"app": "web"}}
            }
        }),
        settings: None,
        services_deny: false,
    }
}

/// The captured real CREATE request, with `object` replaced.
pub fn real_create(object: Value) -> Req {
    let mut request = real_request();
    request["object"] = object;
    Req {
        request,
        settings: None,
        services_deny: false,
    }
}

impl Req {
    pub fn settings(mut self, settings: Value) -> Req {
        self.settings = Some(settings);
        self
    }

    /// The Service checks deny (see `services_deny`).
    pub fn services_deny(mut self) -> Req {
        self.services_deny = true;
        self
    }

    pub fn payload(&self) -> Vec<u8> {
        let mut payload = json!({"request": self.request});
        let mut settings = self.settings.clone();
        if self.services_deny {
            let mut raised = settings.unwrap_or(json!({}));
            for check in SERVICE_CHECKS {
                if raised.pointer(&format!("/enforcement/{check}")).is_none() {
                    raised = enforce(&raised, check, "deny");
                }
            }
            settings = Some(raised);
        }
        if let Some(settings) = settings {
            payload["settings"] = settings;
        }
        serde_json::to_vec(&payload).expect("a payload")
    }

    /// Runs the full admission flow against `cluster`; the response as a
    /// host reads it from the wire.
    pub fn run(&self, cluster: &mut FakeCluster) -> ValidationResponse {
        wire(&evaluate(&self.payload(), cluster))
    }
}

// ---------------------------------------------------------------------------
// Responses

/// A response as hosts read it: the bytes `validate` returns, decoded with the SDK's type.
pub fn wire(response: &Response) -> ValidationResponse {
    let bytes = response.to_json().expect("the response serialises");
    serde_json::from_slice(&bytes).expect("the response is the SDK's ValidationResponse")
}

/// Asserts the request was accepted; returns its warnings (empty when none).
#[track_caller]
pub fn accepted(response: &ValidationResponse) -> Vec<String> {
    assert!(
        response.accepted,
        "expected acceptance, got: {:?} (code {:?})",
        response.message, response.code
    );
    assert_eq!(response.message, None, "an acceptance carries no message");
    assert_eq!(response.code, None);
    if let Some(warnings) = &response.warnings {
        assert!(!warnings.is_empty(), "warnings are None rather than empty");
    }
    response.warnings.clone().unwrap_or_default()
}

/// Asserts the request was accepted without a single warning or mutation.
#[track_caller]
pub fn accepted_cleanly(response: &ValidationResponse) {
    let warnings = accepted(response);
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    assert_eq!(response.mutated_object, None, "unexpected mutation");
}

/// Asserts acceptance without mutation whose warnings are exactly those of
/// `checks`, in order; returns the warnings.
#[track_caller]
pub fn accepted_warning(response: &ValidationResponse, checks: &[&str]) -> Vec<String> {
    let warnings = accepted(response);
    assert_eq!(response.mutated_object, None, "unexpected mutation");
    assert_eq!(check_ids(&warnings.join("\n")), checks, "{warnings:#?}");
    warnings
}

/// Asserts the request was refused by the policy's rules (not a 400); returns the message.
#[track_caller]
pub fn denied(response: &ValidationResponse) -> String {
    assert!(!response.accepted, "expected a denial, got an acceptance");
    assert_eq!(
        response.code, None,
        "a rule violation is not a bad request: {:?}",
        response.message
    );
    assert_eq!(response.mutated_object, None, "a denial mutates nothing");
    response.message.clone().expect("a denial has a message")
}

/// Asserts the request was refused as one the policy cannot judge (400); returns the message.
#[track_caller]
pub fn bad_request(response: &ValidationResponse) -> String {
    assert!(!response.accepted, "expected a 400, got an acceptance");
    assert_eq!(response.code, Some(400), "message: {:?}", response.message);
    assert_eq!(response.mutated_object, None);
    response.message.clone().expect("a 400 has a message")
}

/// The `[check-id]` tags of a message or warning, in order of appearance.
pub fn check_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        let Some(end) = after.find(']') else { break };
        let candidate = &after[..end];
        if !candidate.is_empty()
            && candidate
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-')
        {
            ids.push(candidate.to_string());
        }
        rest = &after[end..];
    }
    ids
}

/// Asserts `text` contains every fragment.
#[track_caller]
pub fn assert_mentions(text: &str, fragments: &[&str]) {
    for fragment in fragments {
        assert!(text.contains(fragment), "expected {fragment:?} in:\n{text}");
    }
}

/// The checks that judge the governing Service.
pub const SERVICE_CHECKS: [&str; 4] = [
    "service-name-required",
    "service-exists",
    "service-headless",
    "service-selects-pods",
];

/// Settings with `check` set to `action` in `enforcement`, merged into `settings`.
pub fn enforce(settings: &Value, check: &str, action: &str) -> Value {
    let mut settings = settings.clone();
    if settings.is_null() {
        settings = json!({});
    }
    settings["enforcement"][check] = json!(action);
    settings
}
