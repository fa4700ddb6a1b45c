//! Cluster look-ups: one narrow interface, [`Cluster`], that the admission flow
//! calls and tests replace with an in-memory fake (no global mock state).
//!
//! [`HostCluster`] answers it through Kubewarden's host capabilities. The exact
//! calls matter, because kwctl replay sessions must match them to the letter:
//! - Service: `get_resource` {v1, Service, name, namespace, disable_cache: false}
//! - StorageClasses: one `list_resources_all` {storage.k8s.io/v1, StorageClass}
//! - StatefulSets on Service DELETE: `list_resources_by_namespace` {apps/v1, StatefulSet, namespace}
//! - PodDisruptionBudgets: `list_resources_by_namespace` {policy/v1, PodDisruptionBudget, namespace}
//!
//! [`ClusterFacts::gather`] decides which look-ups an evaluation needs: at most one
//! of each kind, none when the checks that need it are off or have nothing to check.

use kubewarden_policy_sdk::host_capabilities::kubernetes::{
    GetResourceRequest, ListAllResourcesRequest, ListResourcesByNamespaceRequest,
};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

use crate::json;
use crate::labels::LabelSelector;
use crate::names::is_dns1123_label;
use crate::settings::Settings;
use crate::statefulset::StatefulSet;
use crate::violation::CheckId;

/// Why a look-up gave no answer. Not-found is not an error: it is `Ok(None)`.
/// The text is the host's error, as it reached the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError(pub String);

/// A resource type the policy reads, named as each place that grants it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// `contextAwareResources`: apiVersion and kind.
    pub api_version: &'static str,
    pub kind: &'static str,
    /// `hostCapabilities`: the host call that reads it.
    pub capability: &'static str,
    /// RBAC: the API group and resource policy-server's ServiceAccount needs.
    pub rbac: &'static str,
}

pub const SERVICES: Resource = Resource {
    api_version: "v1",
    kind: "Service",
    capability: "kubernetes/get_resource",
    rbac: "services (core group)",
};

pub const STORAGE_CLASSES: Resource = Resource {
    api_version: "storage.k8s.io/v1",
    kind: "StorageClass",
    capability: "kubernetes/list_resources_all",
    rbac: "storage.k8s.io storageclasses",
};

pub const STATEFUL_SETS: Resource = Resource {
    api_version: "apps/v1",
    kind: "StatefulSet",
    capability: "kubernetes/list_resources_by_namespace",
    rbac: "apps statefulsets",
};

pub const POD_DISRUPTION_BUDGETS: Resource = Resource {
    api_version: "policy/v1",
    kind: "PodDisruptionBudget",
    capability: "kubernetes/list_resources_by_namespace",
    rbac: "policy poddisruptionbudgets",
};

impl Resource {
    /// The host call that reads it: the operation its capability names.
    fn operation(&self) -> &'static str {
        self.capability
            .strip_prefix("kubernetes/")
            .unwrap_or(self.capability)
    }
}

impl LookupError {
    /// The first line of the host's error: policy-server sends the whole
    /// error chain, with a Rust backtrace when it runs with RUST_BACKTRACE.
    pub fn first_line(&self) -> &str {
        const LONGEST: usize = 300;
        let line = self.0.lines().next().unwrap_or_default().trim_end();
        match line.char_indices().nth(LONGEST) {
            Some((cut, _)) => &line[..cut],
            None => line,
        }
    }

    /// The rule of a violation that stands for this failure: what failed, and
    /// the fix for the cause the host's error names. The texts matched are
    /// those of policy-evaluator (the grants) and kube-rs (the API server).
    pub fn explain(&self, looked_up: &str, resource: &Resource) -> String {
        let error = self.first_line();
        let Resource {
            api_version,
            kind,
            capability,
            rbac,
        } = resource;
        let fix = if error.contains("host capability") {
            format!("the policy is not granted the host capability {capability}: list it in the policy's hostCapabilities (policy-server's policies.yml, or the PolicyServer's)")
        } else if error.contains("has not been granted access to Kubernetes") {
            format!("the policy is not granted {api_version} {kind}: list it in contextAwareResources of a ClusterAdmissionPolicy (a namespaced AdmissionPolicy gets no look-ups)")
        } else if error.contains("Forbidden") || error.contains("forbidden") {
            format!("policy-server's ServiceAccount may not read {rbac}: grant it get, list and watch (RBAC)")
        } else if error.contains("store became ready") {
            format!("policy-server could not list {kind} objects: grant its ServiceAccount get, list and watch on {rbac} (RBAC), and check that it reaches the API server")
        } else if error.contains("not initialized") {
            "policy-server has no connection to a cluster: give it a kubeconfig or run it in the cluster".to_string()
        } else if [
            "Connect",
            "connect",
            "timed out",
            "dns error",
            "ServiceError",
        ]
        .iter()
        .any(|sign| error.contains(sign))
        {
            "the API server is unreachable from policy-server: check its network path and credentials to the API server".to_string()
        } else {
            format!("check that {api_version} {kind} is in contextAwareResources, that policy-server's ServiceAccount may get, list and watch {rbac}, and policy-server's logs")
        };
        format!("the look-up of {looked_up} failed ({error}); {fix}")
    }
}

pub trait Cluster {
    /// The Service `name` in `namespace`, `None` when it does not exist.
    fn service(&mut self, namespace: &str, name: &str) -> Result<Option<Service>, LookupError>;
    /// Every StorageClass of the cluster.
    fn storage_classes(&mut self) -> Result<Vec<StorageClass>, LookupError>;
    /// Every StatefulSet of `namespace`.
    fn stateful_sets(&mut self, namespace: &str) -> Result<Vec<StatefulSet>, LookupError>;
    /// Every PodDisruptionBudget of `namespace`.
    fn pod_disruption_budgets(
        &mut self,
        namespace: &str,
    ) -> Result<Vec<PodDisruptionBudget>, LookupError>;
}

/// The part of a Service the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Service {
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    pub external_name: Option<String>,
    pub selector: Option<BTreeMap<String, String>>,
}

impl ServiceSpec {
    /// Whether the Service is headless, as the endpoints controller and
    /// cluster DNS read it: `clusterIP: None` (`IsServiceIPSet` in
    /// pkg/apis/core/v1/helper is its negation; the API server keeps
    /// `clusterIPs[0]` equal to it). An ExternalName Service is a DNS alias
    /// with no cluster IP, never headless.
    pub fn is_headless(&self) -> bool {
        self.kind.as_deref() != Some("ExternalName") && self.cluster_ip.as_deref() == Some("None")
    }
}

/// The part of a StorageClass the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StorageClass {
    pub metadata: StorageClassMeta,
    pub allow_volume_expansion: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StorageClassMeta {
    pub name: String,
    pub annotations: Option<BTreeMap<String, String>>,
    pub creation_timestamp: Option<String>,
}

const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

impl StorageClass {
    pub fn is_default(&self) -> bool {
        let annotations = self.metadata.annotations.as_ref();
        DEFAULT_CLASS_ANNOTATIONS.iter().any(|key| {
            annotations
                .and_then(|a| a.get(*key))
                .is_some_and(|v| v == "true")
        })
    }
}

/// The class a claim without a class gets: the default class, and when several
/// are marked default, the newest, then the first by name, as the
/// DefaultStorageClass admission plugin and the PV controller pick it
/// (`GetDefaultClass`, pkg/volume/util/storageclass.go). Creation timestamps
/// compare as the API server writes them (RFC 3339 in UTC, to the second).
pub fn default_storage_class(classes: &[StorageClass]) -> Option<&StorageClass> {
    classes.iter().filter(|c| c.is_default()).max_by(|a, b| {
        (a.metadata.creation_timestamp.as_deref(), &b.metadata.name)
            .cmp(&(b.metadata.creation_timestamp.as_deref(), &a.metadata.name))
    })
}

/// The part of a PodDisruptionBudget (policy/v1) the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PodDisruptionBudget {
    #[serde(deserialize_with = "json::object")]
    pub metadata: PodDisruptionBudgetMeta,
    #[serde(deserialize_with = "json::object")]
    pub spec: PodDisruptionBudgetSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PodDisruptionBudgetMeta {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// `None` is the `null` selector, which selects no pod; `{}` selects
    /// every pod of the namespace (policy/v1).
    #[serde(deserialize_with = "json::optional_object")]
    pub selector: Option<LabelSelector>,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
}

/// `intstr.IntOrString`: an integer, or a string such as `"50%"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrString {
    Int(i32),
    String(String),
    /// Neither, or an integer beyond int32: the API server never stores one,
    /// and the disruption controller could not compute it (its `failSafe`
    /// then allows no disruption). Read, not refused, so that a budget never
    /// fails the whole list.
    Other(String),
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        struct IntOrStringVisitor;

        impl<'de> Visitor<'de> for IntOrStringVisitor {
            type Value = IntOrString;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an int32 or a string")
            }

            fn visit_i64<E>(self, value: i64) -> Result<IntOrString, E> {
                Ok(i32::try_from(value)
                    .map_or_else(|_| IntOrString::Other(value.to_string()), IntOrString::Int))
            }

            fn visit_u64<E>(self, value: u64) -> Result<IntOrString, E> {
                Ok(i32::try_from(value)
                    .map_or_else(|_| IntOrString::Other(value.to_string()), IntOrString::Int))
            }

            fn visit_f64<E>(self, value: f64) -> Result<IntOrString, E> {
                Ok(IntOrString::Other(value.to_string()))
            }

            fn visit_bool<E>(self, value: bool) -> Result<IntOrString, E> {
                Ok(IntOrString::Other(value.to_string()))
            }

            fn visit_str<E>(self, value: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(value.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IntOrString, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IntOrString::Other("a list".into()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IntOrString, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(IntOrString::Other("an object".into()))
            }
        }

        deserializer.deserialize_any(IntOrStringVisitor)
    }
}

/// The outcome of one look-up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fact<T> {
    /// No check needed it.
    #[default]
    NotLookedUp,
    Found(T),
    NotFound,
    Failed(LookupError),
}

/// What the context-aware checks know about the cluster for one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFacts {
    /// The Service named by `spec.serviceName`, keyed by that name.
    pub service: Option<(String, Fact<Service>)>,
    pub storage_classes: Fact<Vec<StorageClass>>,
    /// The PodDisruptionBudgets of the set's namespace.
    pub pod_disruption_budgets: Fact<Vec<PodDisruptionBudget>>,
}

impl ClusterFacts {
    /// Looks up what the enabled checks need for `sts`, and nothing else.
    pub fn gather(
        sts: &StatefulSet,
        settings: &Settings,
        cluster: &mut dyn Cluster,
    ) -> ClusterFacts {
        let wants_service = [
            CheckId::ServiceExists,
            CheckId::ServiceHeadless,
            CheckId::ServiceSelectsPods,
        ]
        .into_iter()
        .any(|check| settings.runs(check));
        let claims = &sts.spec.volume_claim_templates;
        // The allow and deny lists judge the class a claim without one gets:
        // the cluster's default, read from the same list.
        let judges_default_class = settings.runs(CheckId::StorageClassAllowed)
            && !settings.storage.allows_any_class()
            && claims.iter().any(|claim| claim.storage_class().is_none());
        let wants_classes = !claims.is_empty()
            && (settings.runs(CheckId::StorageClassExists)
                || settings.runs(CheckId::StorageClassExpandable)
                || judges_default_class);
        // A budget matters only when there is more than one replica to spread a drain over.
        let wants_budgets = sts.spec.replicas_or_default() > 1
            && (settings.runs(CheckId::PdbCoversPods)
                || settings.runs(CheckId::PdbAllowsDisruption));

        let mut facts = ClusterFacts::default();
        if let Some(name) = sts.spec.service_name.as_deref().filter(|n| !n.is_empty()) {
            // A name that is not a DNS-1123 label cannot name a Service; service-name-valid says so.
            if wants_service && is_dns1123_label(name) {
                let found = match cluster.service(&sts.metadata.namespace, name) {
                    Ok(Some(service)) => Fact::Found(service),
                    Ok(None) => Fact::NotFound,
                    Err(e) => Fact::Failed(e),
                };
                facts.service = Some((name.to_string(), found));
            }
        }
        if wants_classes {
            facts.storage_classes = match cluster.storage_classes() {
                Ok(classes) => Fact::Found(classes),
                Err(e) => Fact::Failed(e),
            };
        }
        if wants_budgets {
            facts.pod_disruption_budgets =
                match cluster.pod_disruption_budgets(&sts.metadata.namespace) {
                    Ok(budgets) => Fact::Found(budgets),
                    Err(e) => Fact::Failed(e),
                };
        }
        facts
    }
}

/// The cluster as Kubewarden's host capabilities show it.
pub struct HostCluster;

/// How policy-server words a `get_resource` miss; not-found and a failing API
/// server differ only in this text.
const NOT_FOUND_MARKER: &str = "Cannot find ";

impl Cluster for HostCluster {
    fn service(&mut self, namespace: &str, name: &str) -> Result<Option<Service>, LookupError> {
        let request = GetResourceRequest {
            api_version: SERVICES.api_version.into(),
            kind: SERVICES.kind.into(),
            name: name.into(),
            namespace: Some(namespace.into()),
            disable_cache: false,
            field_masks: None,
        };
        match host_call(SERVICES.operation(), &request) {
            Ok(payload) => decode_answer(&payload, SERVICES.kind).map(Some),
            Err(message) if message.contains(NOT_FOUND_MARKER) => Ok(None),
            Err(message) => Err(LookupError(message)),
        }
    }

    fn storage_classes(&mut self) -> Result<Vec<StorageClass>, LookupError> {
        let request = ListAllResourcesRequest {
            api_version: STORAGE_CLASSES.api_version.into(),
            kind: STORAGE_CLASSES.kind.into(),
            label_selector: None,
            field_selector: None,
            field_masks: None,
        };
        list_items(&STORAGE_CLASSES, &request)
    }

    fn stateful_sets(&mut self, namespace: &str) -> Result<Vec<StatefulSet>, LookupError> {
        list_in_namespace(&STATEFUL_SETS, namespace)
    }

    fn pod_disruption_budgets(
        &mut self,
        namespace: &str,
    ) -> Result<Vec<PodDisruptionBudget>, LookupError> {
        list_in_namespace(&POD_DISRUPTION_BUDGETS, namespace)
    }
}

/// Every `resource` of `namespace`.
fn list_in_namespace<T: serde::de::DeserializeOwned>(
    resource: &Resource,
    namespace: &str,
) -> Result<Vec<T>, LookupError> {
    let request = ListResourcesByNamespaceRequest {
        api_version: resource.api_version.into(),
        kind: resource.kind.into(),
        namespace: namespace.into(),
        label_selector: None,
        field_selector: None,
        field_masks: None,
    };
    list_items(resource, &request)
}

/// The items of the list the host answers `request` with.
fn list_items<T: serde::de::DeserializeOwned>(
    resource: &Resource,
    request: &impl serde::Serialize,
) -> Result<Vec<T>, LookupError> {
    let payload = host_call(resource.operation(), request).map_err(LookupError)?;
    decode_answer::<List<T>>(&payload, &format!("{}List", resource.kind))
        .map(|list| list.items.unwrap_or_default())
}

/// A Kubernetes list; `items` may be `null` when empty.
#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Option::default")]
    items: Option<Vec<T>>,
}

fn host_call(operation: &str, request: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    let message = serde_json::to_vec(request)
        .map_err(|e| format!("cannot encode the {operation} request: {e}"))?;
    wapc_guest::host_call("kubewarden", "kubernetes", operation, &message)
        .map_err(|e| e.to_string())
}

fn decode_answer<T: serde::de::DeserializeOwned>(
    payload: &[u8],
    what: &str,
) -> Result<T, LookupError> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| LookupError(format!("the host answered a {what} that is not UTF-8")))?;
    json::decode(text).map_err(|e| {
        LookupError(format!(
            "the host answered a {what} that does not decode: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(spec: &str) -> Result<PodDisruptionBudget, json::DecodeError> {
        json::decode(&format!(
            r#"{{"metadata":{{"name":"b","namespace":"db"}},"spec":{spec},"status":{{"disruptionsAllowed":0}}}}"#
        ))
    }

    #[test]
    fn a_budget_decodes_only_what_the_checks_read() {
        let b = budget(r#"{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}}"#).unwrap();
        assert_eq!(b.metadata.name, "b");
        assert_eq!(b.spec.min_available, Some(IntOrString::Int(2)));
        assert_eq!(b.spec.max_unavailable, None);
        assert!(b.spec.selector.is_some_and(|s| !s.is_empty()));
        let b = budget(r#"{"maxUnavailable":"25%","selector":{}}"#).unwrap();
        assert_eq!(
            b.spec.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
        assert!(b.spec.selector.is_some_and(|s| s.is_empty()));
        // A null or absent selector is None: it selects no pod.
        assert_eq!(budget(r#"{"selector":null}"#).unwrap().spec.selector, None);
        assert_eq!(budget(r#"{}"#).unwrap().spec.selector, None);
    }

    #[test]
    fn a_value_the_controller_cannot_compute_is_read_as_such() {
        for (spec, shown) in [
            (r#"{"minAvailable":2147483648}"#, "2147483648"),
            (r#"{"minAvailable":-2147483649}"#, "-2147483649"),
            (r#"{"minAvailable":1.5}"#, "1.5"),
            (r#"{"minAvailable":true}"#, "true"),
            (r#"{"minAvailable":[1]}"#, "a list"),
            (r#"{"minAvailable":{"a":[1]}}"#, "an object"),
        ] {
            let b = budget(spec).expect(spec);
            assert_eq!(
                b.spec.min_available,
                Some(IntOrString::Other(shown.into())),
                "{spec}"
            );
        }
    }

    #[test]
    fn a_budget_of_the_wrong_shape_is_refused_not_misread() {
        for (spec, field) in [
            (r#"{"selector":[{"app":"web"}]}"#, "spec.selector"),
            (
                r#"{"selector":{"matchExpressions":[null]}}"#,
                "spec.selector.matchExpressions[0]",
            ),
            (
                r#"{"selector":{"matchLabels":{"app":1}}}"#,
                "spec.selector.matchLabels.app",
            ),
            ("[]", "spec"),
        ] {
            let error = if spec == "[]" {
                json::decode::<PodDisruptionBudget>(r#"{"spec":[]}"#).expect_err(spec)
            } else {
                budget(spec).expect_err(spec)
            };
            assert_eq!(error.field, field, "{spec}: {error}");
        }
    }
}
