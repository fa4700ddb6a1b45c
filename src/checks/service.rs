//! Stable identity: the governing Service named by `spec.serviceName`.

use std::collections::BTreeMap;

use crate::cluster::{ClusterFacts, Fact, Service, SERVICES};
use crate::names::{is_dns1035_label, is_dns1123_label};
use crate::settings::Settings;
use crate::statefulset::StatefulSet;
use crate::violation::{quote, CheckId, Violation};

const FIELD: &str = "spec.serviceName";

/// `service-name-required`: the set names its governing Service.
pub fn service_name_required(sts: &StatefulSet) -> Option<Violation> {
    let rule = "must name the governing headless Service, a DNS-1123 label (lowercase letters, digits and '-', at most 63), so that pods get stable DNS names";
    match sts.spec.service_name.as_deref() {
        None => Some(Violation::new(
            CheckId::ServiceNameRequired,
            FIELD,
            "absent",
            rule,
        )),
        Some(name) if !is_dns1123_label(name) => Some(Violation::new(
            CheckId::ServiceNameRequired,
            FIELD,
            quote(name),
            rule,
        )),
        Some(_) => None,
    }
}

/// `service-exists`, `service-headless`, `service-selects-pods`, from the looked-up Service.
pub fn governing_service(
    sts: &StatefulSet,
    settings: &Settings,
    facts: &ClusterFacts,
) -> Vec<Violation> {
    let Some(name) = sts.spec.service_name.as_deref() else {
        return Vec::new();
    };
    let found = quote(name);
    // No Service can have a name that is not a DNS-1123 label (with or
    // without RelaxedServiceNameValidation), so it needs no look-up.
    if !is_dns1123_label(name) {
        return settings
            .runs(CheckId::ServiceExists)
            .then(|| {
                Violation::new(
                    CheckId::ServiceExists,
                    FIELD,
                    found,
                    "that is not a valid Service name (a DNS-1123 label: lowercase letters, digits and '-', at most 63), so no Service of that name can exist",
                )
            })
            .into_iter()
            .collect();
    }
    let Some((looked_up, fact)) = &facts.service else {
        return Vec::new();
    };
    // Facts looked up for another name (UPDATE that changed it) say nothing about this object.
    if looked_up != name {
        return Vec::new();
    }
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
                label_list(&sts.spec.template.metadata.labels)
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
                    format!("no Service of that name exists in namespace {}{dns1035}; create the headless Service first (in one apply, put the Service before the StatefulSet)", quote(namespace)),
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
        format!("that Service has {shown}; the governing Service must be headless (clusterIP: None) for per-pod DNS names"),
    ))
}

/// `key=value` pairs, in key order.
fn label_list(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `service-selects-pods`: the Service selects the set's pods, else they get no DNS records.
fn service_selects_pods(service: &Service, sts: &StatefulSet, found: &str) -> Option<Violation> {
    let selector = service.spec.selector.as_ref().filter(|s| !s.is_empty());
    let Some(selector) = selector else {
        return Some(Violation::new(
            CheckId::ServiceSelectsPods,
            FIELD,
            found,
            "that Service has no selector, so it selects none of the pods and they get no DNS records",
        ));
    };
    let labels = &sts.spec.template.metadata.labels;
    let missing: BTreeMap<String, String> = selector
        .iter()
        .filter(|(key, value)| labels.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let missing = label_list(&missing);
    Some(
        Violation::new(
            CheckId::ServiceSelectsPods,
            FIELD,
            found,
            format!(
                "that Service selects {missing} but spec.template.metadata.labels lack it, so the pods get no DNS records"
            ),
        )
        // Another missing label is another fault, not the old one.
        .with_inputs(missing),
    )
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
