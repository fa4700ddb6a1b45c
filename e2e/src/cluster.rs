//! A read-only API server over a set of objects: the other answer source for
//! Kubernetes look-ups, next to a replay session.
//!
//! A replay session answers calls in the exact order they were recorded,
//! which suits a test of one request; a corpus of many requests wants the
//! cluster itself. [`ClusterState`] answers the Kubernetes host calls the way
//! policy-server's API server client answers them, from the objects it holds:
//!
//! - `get_resource` {api_version, kind, name, namespace}: the object whose
//!   `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` (absent for
//!   a cluster-scoped object, as `namespace: null` asks) all match, or
//!   policy-evaluator's not-found error,
//!   `Cannot find v1/Service named 'x' inside of namespace 'Some("ns")'`;
//! - `list_resources_by_namespace` / `list_resources_all`: a
//!   `{"apiVersion", "kind": "<Kind>List", "metadata": {}, "items": [...]}` of the
//!   objects of that apiVersion and kind (in that namespace), in the order given.
//!
//! Label and field selectors, field masks and `can_i` are not evaluated: a
//! request that sets one fails with a message saying so, rather than being
//! answered as if it had not.
//!
//! The capability and resource gates of [`crate::callbacks`] run first, as for
//! a replay session, and a failure reaches the guest with the same
//! `Callback evaluation failure: ` prefix a recorded `type: Error` gets.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::session::HostRequest;

/// The objects a cluster holds, answered read-only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterState {
    objects: Vec<Value>,
}

impl ClusterState {
    /// A cluster holding `objects`. Each must carry a string `apiVersion`,
    /// `kind` and `metadata.name` (and a string `metadata.namespace` when it
    /// has one), as every object an API server stores does.
    pub fn new(objects: impl IntoIterator<Item = Value>) -> Result<Self> {
        let objects: Vec<Value> = objects.into_iter().collect();
        for (index, object) in objects.iter().enumerate() {
            for (pointer, what) in [
                ("/apiVersion", "apiVersion"),
                ("/kind", "kind"),
                ("/metadata/name", "metadata.name"),
            ] {
                if !object.pointer(pointer).is_some_and(Value::is_string) {
                    bail!("cluster object {index} has no string {what}: {object}");
                }
            }
            let namespace = object.pointer("/metadata/namespace");
            if namespace.is_some_and(|n| !n.is_string()) {
                bail!("cluster object {index} has a metadata.namespace that is not a string: {object}");
            }
        }
        Ok(ClusterState { objects })
    }

    /// A cluster from a YAML (or JSON) list of objects.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let objects: Vec<Value> =
            serde_yaml::from_str(text).context("a cluster is a YAML list of objects")?;
        ClusterState::new(objects)
    }

    /// This cluster with `more` objects added after its own.
    pub fn with(mut self, more: impl IntoIterator<Item = Value>) -> Result<Self> {
        self.objects.extend(more);
        ClusterState::new(self.objects)
    }

    pub fn objects(&self) -> &[Value] {
        &self.objects
    }

    fn is_of_type(object: &Value, api_version: &str, kind: &str) -> bool {
        object["apiVersion"] == api_version && object["kind"] == kind
    }

    /// The object `get_resource` finds, if any.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Option<&Value> {
        self.objects.iter().find(|o| {
            Self::is_of_type(o, api_version, kind)
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str() == namespace
        })
    }

    /// The list `list_resources_by_namespace` (`Some`) or `list_resources_all`
    /// (`None`) answers.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Value {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|o| Self::is_of_type(o, api_version, kind))
            .filter(|o| namespace.is_none() || o["metadata"]["namespace"].as_str() == namespace)
            .cloned()
            .collect();
        json!({
            "apiVersion": api_version,
            "kind": format!("{kind}List"),
            "metadata": {},
            "items": items,
        })
    }

    /// The answer to one Kubernetes host call: the payload handed to the
    /// guest, or the error text (without the callback-failure prefix).
    pub fn answer(&self, request: &HostRequest) -> Result<Vec<u8>, String> {
        let unsupported = |what: &str| {
            Err(format!(
                "policy-host's cluster state does not evaluate {what}, so it cannot answer {request:?}"
            ))
        };
        // Both list calls, refused when they narrow the list.
        let list = |api_version: &str, kind: &str, namespace: Option<&str>, narrowed: bool| {
            if narrowed {
                return unsupported("label selectors, field selectors or field_masks");
            }
            Ok(self
                .list(api_version, kind, namespace)
                .to_string()
                .into_bytes())
        };
        match request {
            HostRequest::KubernetesGetResource {
                api_version,
                kind,
                name,
                namespace,
                field_masks,
                ..
            } => {
                if field_masks.is_some() {
                    return unsupported("field_masks");
                }
                match self.get(api_version, kind, name, namespace.as_deref()) {
                    Some(object) => Ok(object.to_string().into_bytes()),
                    // policy-evaluator's wording (kubernetes.rs `get_resource`).
                    None => Err(format!(
                        "Cannot find {api_version}/{kind} named '{name}' inside of namespace '{namespace:?}'"
                    )),
                }
            }
            HostRequest::KubernetesListResourceNamespace {
                api_version,
                kind,
                namespace,
                label_selector,
                field_selector,
                field_masks,
            } => list(
                api_version,
                kind,
                Some(namespace),
                label_selector.is_some() || field_selector.is_some() || field_masks.is_some(),
            ),
            HostRequest::KubernetesListResourceAll {
                api_version,
                kind,
                label_selector,
                field_selector,
                field_masks,
            } => list(
                api_version,
                kind,
                None,
                label_selector.is_some() || field_selector.is_some() || field_masks.is_some(),
            ),
            HostRequest::KubernetesCanI { .. } => unsupported("access reviews (can_i)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterState {
        ClusterState::from_yaml(
            r#"
- apiVersion: v1
  kind: Service
  metadata: {name: db, namespace: shop}
  spec: {clusterIP: None, selector: {app: db}}
- apiVersion: v1
  kind: Service
  metadata: {name: db, namespace: other}
  spec: {clusterIP: 10.96.0.10}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec: {clusterIP: None}
- apiVersion: policy/v1
  kind: PodDisruptionBudget
  metadata: {name: db, namespace: shop}
  spec: {maxUnavailable: 1}
- apiVersion: storage.k8s.io/v1
  kind: StorageClass
  metadata: {name: standard}
  provisioner: rancher.io/local-path
"#,
        )
        .unwrap()
    }

    fn get(name: &str, namespace: Option<&str>) -> HostRequest {
        HostRequest::KubernetesGetResource {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: name.into(),
            namespace: namespace.map(Into::into),
            disable_cache: false,
            field_masks: None,
        }
    }

    fn list(api_version: &str, kind: &str, namespace: Option<&str>) -> Value {
        let request = match namespace {
            Some(namespace) => HostRequest::KubernetesListResourceNamespace {
                api_version: api_version.into(),
                kind: kind.into(),
                namespace: namespace.into(),
                label_selector: None,
                field_selector: None,
                field_masks: None,
            },
            None => HostRequest::KubernetesListResourceAll {
                api_version: api_version.into(),
                kind: kind.into(),
                label_selector: None,
                field_selector: None,
                field_masks: None,
            },
        };
        serde_json::from_slice(&cluster().answer(&request).unwrap()).unwrap()
    }

    fn names(list: &Value) -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["metadata"]["namespace"].as_str().unwrap_or("-"),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn get_finds_the_object_of_that_namespace() {
        let answer = cluster().answer(&get("db", Some("shop"))).unwrap();
        let service: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(service["spec"]["clusterIP"], "None");
        let answer = cluster().answer(&get("db", Some("other"))).unwrap();
        let service: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(service["spec"]["clusterIP"], "10.96.0.10");
    }

    #[test]
    fn get_misses_with_policy_evaluators_words() {
        assert_eq!(
            cluster().answer(&get("x", Some("ns"))).unwrap_err(),
            r#"Cannot find v1/Service named 'x' inside of namespace 'Some("ns")'"#
        );
        // A namespaced object is not found without its namespace.
        assert_eq!(
            cluster().answer(&get("db", None)).unwrap_err(),
            "Cannot find v1/Service named 'db' inside of namespace 'None'"
        );
        // Another kind of the same name is not it.
        let budget_as_service = HostRequest::KubernetesGetResource {
            api_version: "v1".into(),
            kind: "PodDisruptionBudget".into(),
            name: "db".into(),
            namespace: Some("shop".into()),
            disable_cache: false,
            field_masks: None,
        };
        assert!(cluster()
            .answer(&budget_as_service)
            .unwrap_err()
            .starts_with("Cannot find v1/PodDisruptionBudget named 'db'"));
    }

    #[test]
    fn a_cluster_scoped_object_is_got_without_namespace() {
        let state = cluster();
        let class = state.get("storage.k8s.io/v1", "StorageClass", "standard", None);
        assert_eq!(class.unwrap()["provisioner"], "rancher.io/local-path");
        assert!(state
            .get(
                "storage.k8s.io/v1",
                "StorageClass",
                "standard",
                Some("shop")
            )
            .is_none());
    }

    #[test]
    fn list_by_namespace_leaves_other_namespaces_out() {
        let services = list("v1", "Service", Some("shop"));
        assert_eq!(services["apiVersion"], "v1");
        assert_eq!(services["kind"], "ServiceList");
        assert_eq!(services["metadata"], json!({}));
        assert_eq!(names(&services), ["shop/db", "shop/web"]);
        assert_eq!(
            names(&list("v1", "Service", Some("empty"))),
            [] as [&str; 0]
        );
    }

    #[test]
    fn list_all_spans_namespaces_and_kinds_stay_apart() {
        assert_eq!(
            names(&list("v1", "Service", None)),
            ["shop/db", "other/db", "shop/web"]
        );
        let budgets = list("policy/v1", "PodDisruptionBudget", None);
        assert_eq!(budgets["kind"], "PodDisruptionBudgetList");
        assert_eq!(names(&budgets), ["shop/db"]);
        let classes = list("storage.k8s.io/v1", "StorageClass", None);
        assert_eq!(names(&classes), ["-/standard"]);
        // Same kind, other apiVersion: not listed.
        assert_eq!(
            names(&list("policy/v1beta1", "PodDisruptionBudget", None)),
            [] as [&str; 0]
        );
    }

    #[test]
    fn what_it_does_not_evaluate_fails_by_name() {
        let selected = HostRequest::KubernetesListResourceNamespace {
            api_version: "v1".into(),
            kind: "Service".into(),
            namespace: "shop".into(),
            label_selector: Some("app=db".into()),
            field_selector: None,
            field_masks: None,
        };
        let err = cluster().answer(&selected).unwrap_err();
        assert!(
            err.contains("does not evaluate label selectors, field selectors or field_masks"),
            "{err}"
        );
        let can_i = HostRequest::KubernetesCanI {
            subject_access_review: json!({}),
            disable_cache: false,
        };
        assert!(cluster().answer(&can_i).unwrap_err().contains("can_i"));
    }

    #[test]
    fn objects_without_identity_are_refused() {
        let err = ClusterState::new([json!({"apiVersion": "v1", "kind": "Service"})]).unwrap_err();
        assert!(err.to_string().contains("metadata.name"), "{err}");
        let err = ClusterState::new([json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "a", "namespace": 3}
        })])
        .unwrap_err();
        assert!(err.to_string().contains("metadata.namespace"), "{err}");
    }
}
