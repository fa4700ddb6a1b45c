//! Stable identity: the governing Service named by `spec.serviceName`.

use std::collections::BTreeMap;

use crate::cluster::{ClusterFacts, Fact, Service, SERVICES};
use crate::labels::format_labels;
use crate::names::{is_dns1035_label, is_dns1123_label};
use crate::replicas::{selected_by_map, Replicas, Selection, PER_REPLICA_LABELS};
use crate::settings::Settings;
use crate::statefulset::StatefulSet;
use crate::violation::{quote, CheckId, Violation};

const FIELD: &str = "spec.serviceName";

/// The governing Service's name; `None` when absent or `""`, both of which
/// leave the pods without a subdomain (optional since Kubernetes 1.33).
pub fn governing_service_name(sts: &StatefulSet) -> Option<&str> {
    sts.spec
        .service_name
        .as_deref()
        .filter(|name| !name.is_empty())
}

/// `service-name-required`: the set names a governing Service. Kubernetes
/// accepts a set without one (`serviceName` is optional since 1.33,
/// kubernetes/kubernetes#130233), whose pods then have no DNS names of their
/// own, so this warns by default.
pub fn service_name_required(sts: &StatefulSet) -> Option<Violation> {
    governing_service_name(sts).is_none().then(|| {
        Violation::new(
            CheckId::ServiceNameRequired,
            FIELD,
            sts.spec.service_name.as_deref().map_or("absent".into(), quote),
            "names no governing Service, so the pods get no stable DNS names (<pod>.<service>.<namespace>.svc); name a headless Service that selects them if the workload needs them",
        )
    })
}

/// `service-name-valid`: a set name is a DNS-1123 label. The StatefulSet
/// controller sets it as every pod's `spec.subdomain` (`updateIdentity`,
/// pkg/controller/statefulset/stateful_set_utils.go), and pod validation
/// requires a subdomain to be one (`ValidatePodSpec`,
/// pkg/apis/core/validation): the API server refuses every pod.
pub fn service_name_valid(sts: &StatefulSet) -> Option<Violation> {
    let name = governing_service_name(sts)?;
    (!is_dns1123_label(name)).then(|| {
        Violation::new(
            CheckId::ServiceNameValid,
            FIELD,
            quote(name),
            "is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63), and the StatefulSet controller sets it as every pod's spec.subdomain, which must be one: the API server refuses every pod and no replica ever starts",
        )
    })
}

/// `service-exists`, `service-headless`, `service-selects-pods`, from the looked-up Service.
pub fn governing_service(
    sts: &StatefulSet,
    settings: &Settings,
    facts: &ClusterFacts,
) -> Vec<Violation> {
    let Some(name) = governing_service_name(sts) else {
        return Vec::new();
    };
    let Some((looked_up, fact)) = &facts.service else {
        return Vec::new();
    };
    // Facts looked up for another name (UPDATE that changed it) say nothing about this object.
    if looked_up != name {
        return Vec::new();
    }
    let found = quote(name);
    let namespace = &sts.metadata.namespace;
    let mut violations = Vec::new();
    match fact {
        Fact::NotLookedUp => {}
        Fact::Failed(error) => {
            // One violation for the look-up, under the first check that needed
            // it, resting on everything those checks would have read.
            let check = [
                CheckId::ServiceExists,
                CheckId::ServiceHeadless,
                CheckId::ServiceSelectsPods,
            ]
            .into_iter()
            .find(|check| settings.runs(*check))
            .unwrap_or(CheckId::ServiceExists);
            let labels = if settings.runs(CheckId::ServiceSelectsPods) {
                format_labels(&sts.spec.template.metadata.labels)
            } else {
                String::new()
            };
            violations.push(
                Violation::lookup_failure(
                    check,
                    FIELD,
                    found,
                    error.explain(&format!("Service {namespace}/{name}"), &SERVICES),
                )
                .with_inputs(labels),
            );
        }
        Fact::NotFound => {
            if settings.runs(CheckId::ServiceExists) {
                let dns1035 = if is_dns1035_label(name) {
                    ""
                } else {
                    " (Service names must also start with a letter unless the cluster enables RelaxedServiceNameValidation)"
                };
                violations.push(Violation::new(
                    CheckId::ServiceExists,
                    FIELD,
                    found,
                    format!("no Service of that name exists in namespace {} yet{dns1035}, so the pods have no DNS names <pod>.{name}.{namespace}.svc until a headless Service of that name selects them; create it if the workload needs them (Kubernetes accepts the set either way, and the records appear once the Service exists)", quote(namespace)),
                ));
            }
        }
        Fact::Found(service) => {
            if settings.runs(CheckId::ServiceHeadless) {
                violations.extend(service_headless(service, &found));
            }
            if settings.runs(CheckId::ServiceSelectsPods) {
                violations.extend(service_selects_pods(service, sts, &found));
            }
        }
    }
    violations
}

/// `service-headless`: per-pod DNS records exist only for a headless Service.
fn service_headless(service: &Service, found: &str) -> Option<Violation> {
    let spec = &service.spec;
    if spec.is_headless() {
        return None;
    }
    let shown = if spec.kind.as_deref() == Some("ExternalName") {
        let alias = spec
            .external_name
            .as_deref()
            .map_or_else(String::new, |target| format!(" of {}", quote(target)));
        format!("type ExternalName (a DNS alias{alias}), which has no cluster IP and no endpoints")
    } else {
        match spec.cluster_ip.as_deref() {
            Some(ip) => format!("clusterIP {}", quote(ip)),
            None => "no clusterIP set, so one is allocated".to_string(),
        }
    };
    Some(Violation::new(
        CheckId::ServiceHeadless,
        FIELD,
        found,
        format!("that Service has {shown}; the DNS specification for Kubernetes gives each pod a name <pod>.<service> only under a headless Service (clusterIP: None): CoreDNS also answers such names for other Services, kube-dns and other spec-strict DNS servers do not; make it headless if the workload resolves its peers by pod name"),
    ))
}

/// `service-selects-pods`: the Service selects every replica, else the
/// replicas it misses get no DNS records. Matched against the labels each
/// replica really has (see `replicas`).
fn service_selects_pods(service: &Service, sts: &StatefulSet, found: &str) -> Option<Violation> {
    let selector = service.spec.selector.as_ref().filter(|s| !s.is_empty());
    let Some(selector) = selector else {
        return Some(Violation::new(
            CheckId::ServiceSelectsPods,
            FIELD,
            found,
            "that Service has no selector, so the endpoints controller gives it no endpoints and the pods get no DNS records through it (a Service without selector is meant for endpoints managed by hand or by an operator)",
        ));
    };
    let replicas = Replicas::of(sts);
    let selection = selected_by_map(selector, &replicas);
    if selection == Selection::All {
        return None;
    }
    let labels = &sts.spec.template.metadata.labels;
    // Pairs that no replica carries: the template lacks them.
    let missing: BTreeMap<String, String> = selector
        .iter()
        .filter(|(key, value)| {
            !PER_REPLICA_LABELS.contains(&key.as_str()) && labels.get(*key) != Some(*value)
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let rule = if missing.is_empty() {
        format!(
            "that Service selects {}, which matches {}, so the others get no DNS records through it",
            format_labels(selector),
            selection.describe(&replicas)
        )
    } else {
        format!(
            "that Service selects {} but spec.template.metadata.labels lack {}, so it selects {} and they get no DNS records through it",
            format_labels(selector),
            format_labels(&missing),
            selection.describe(&replicas)
        )
    };
    // Another missing label, or another per-replica selector, is another
    // fault, not the old one; a new replica count is the same fault.
    let inputs = if missing.is_empty() {
        format_labels(selector)
    } else {
        format_labels(&missing)
    };
    Some(Violation::new(CheckId::ServiceSelectsPods, FIELD, found, rule).with_inputs(inputs))
}

/// `service-in-use`: on DELETE of a Service, the live StatefulSets that need it.
/// A set being deleted or scaled to zero does not.
pub fn services_in_use(service: &str, namespace: &str, sets: &[StatefulSet]) -> Vec<Violation> {
    sets.iter()
        .filter(|sts| sts.spec.service_name.as_deref() == Some(service))
        .filter(|sts| sts.metadata.deletion_timestamp.is_none() && sts.spec.replicas_or_default() > 0)
        .map(|sts| {
            Violation::new(
                CheckId::ServiceInUse,
                format!("StatefulSet {namespace}/{} spec.serviceName", sts.metadata.name),
                quote(service),
                format!(
                    "it runs {} replica(s) whose DNS names need this Service; delete or scale down the StatefulSet first",
                    sts.spec.replicas_or_default()
                ),
            )
        })
        .collect()
}
