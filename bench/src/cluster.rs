//! The cluster the benchmarks and budget tests replay: the governing Service of
//! a request, the StorageClasses and the PodDisruptionBudgets of its
//! namespace, answered as policy-server would.

use policy_host::session::{Exchange, ExchangeResponse, HostRequest};
use policy_host::ReplaySession;
use serde_json::{json, Value};

/// What a settings profile makes the policy look up for a StatefulSet with claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookups {
    /// The governing Service only (the Service checks are on by default).
    Service,
    /// The Service, then one list of StorageClasses.
    ServiceAndStorageClasses,
    /// The Service, the StorageClasses, then one list of the namespace's
    /// PodDisruptionBudgets (a set of more than one replica, the budget checks on).
    All,
}

/// The StorageClasses of the replayed cluster: `standard` is the default class.
pub fn storage_class_list() -> Value {
    let class = |name: &str, default: bool, expandable: bool| {
        let mut metadata = json!({"name": name, "creationTimestamp": "2025-01-01T00:00:00Z"});
        if default {
            metadata["annotations"] =
                json!({"storageclass.kubernetes.io/is-default-class": "true"});
        }
        json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": metadata,
            "provisioner": "csi.example.com",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": expandable
        })
    };
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClassList",
        "metadata": {"resourceVersion": "99"},
        "items": [
            class("standard", true, true),
            class("fast-ssd", false, true),
            class("slow-hdd", false, false),
            class("my-storage-class", false, true),
        ]
    })
}

/// A headless Service named `name` in `namespace` selecting `selector`.
pub fn headless_service(name: &str, namespace: &str, selector: &Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "11111111-2222-4333-8444-555555555555",
            "resourceVersion": "1234"
        },
        "spec": {
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "type": "ClusterIP",
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            "selector": selector
        },
        "status": {"loadBalancer": {}}
    })
}

pub fn service_exchange(name: &str, namespace: &str, selector: &Value) -> Exchange {
    Exchange {
        request: HostRequest::KubernetesGetResource {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: name.into(),
            namespace: Some(namespace.into()),
            disable_cache: false,
            field_masks: None,
        },
        response: ExchangeResponse::Success {
            payload: headless_service(name, namespace, selector).to_string(),
        },
    }
}

pub fn storage_classes_exchange() -> Exchange {
    Exchange::list_all_answered("storage.k8s.io/v1", "StorageClass", &storage_class_list())
}

/// The PodDisruptionBudgets of `namespace`: one selecting `selector` that lets
/// one pod go at a time.
pub fn budget_list(namespace: &str, selector: &Value) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudgetList",
        "metadata": {"resourceVersion": "77"},
        "items": [{
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "budget", "namespace": namespace, "generation": 1},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            "status": {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 3,
                "desiredHealthy": 2, "expectedPods": 3}
        }]
    })
}

pub fn budgets_exchange(namespace: &str, selector: &Value) -> Exchange {
    Exchange {
        request: HostRequest::KubernetesListResourceNamespace {
            api_version: "policy/v1".into(),
            kind: "PodDisruptionBudget".into(),
            namespace: namespace.into(),
            label_selector: None,
            field_selector: None,
            field_masks: None,
        },
        response: ExchangeResponse::Success {
            payload: budget_list(namespace, selector).to_string(),
        },
    }
}

/// The session answering `lookups` for a StatefulSet AdmissionRequest: its
/// `spec.serviceName` exists, is headless and selects the pod template's
/// labels, and a budget of its namespace selects them too.
pub fn session_for(request: &Value, lookups: Lookups) -> ReplaySession {
    let object = &request["object"];
    let service = object["spec"]["serviceName"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .or_else(|| request["namespace"].as_str())
        .unwrap_or("default");
    let selector = match &object["spec"]["template"]["metadata"]["labels"] {
        Value::Object(labels) => Value::Object(labels.clone()),
        _ => json!({}),
    };
    let mut exchanges = vec![service_exchange(service, namespace, &selector)];
    if lookups != Lookups::Service {
        exchanges.push(storage_classes_exchange());
    }
    if lookups == Lookups::All {
        exchanges.push(budgets_exchange(namespace, &selector));
    }
    ReplaySession::new(exchanges)
}
