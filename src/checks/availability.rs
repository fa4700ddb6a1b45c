//! Availability: replicas kept apart by the scheduler, and node drains that
//! neither evict every replica at once nor block forever.
//!
//! Which pods a term or budget selects follows Kubernetes (see `labels`); the
//! set's pods are judged by `spec.template.metadata.labels`, which every
//! replica carries.

use crate::cluster::{
    ClusterFacts, Fact, IntOrString, PodDisruptionBudget, POD_DISRUPTION_BUDGETS,
};
use crate::labels::{format_labels, selects, LabelSelector, Labels};
use crate::settings::Settings;
use crate::statefulset::{PodAffinityTerm, StatefulSet, TopologySpreadConstraint};
use crate::violation::{quote, quoted_list, CheckId, Violation};

/// Labels the StatefulSet controller gives each pod a value of its own
/// (`updateIdentity`, pkg/controller/statefulset/stateful_set_utils.go).
const PER_POD_LABELS: [&str; 2] = [
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
];
/// The label every pod of one revision shares (`controller-revision-hash`).
const REVISION_LABEL: &str = "controller-revision-hash";
/// The label the API server sets on every Namespace, to its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

const LABELS_FIELD: &str = "spec.template.metadata.labels";

fn one_of(keys: &[String]) -> String {
    match keys {
        [key] => quote(key),
        _ => format!("one of {}", quoted_list(keys)),
    }
}

/// Why a selector does not select the set's own pods, or `None` when it does.
fn misses_own_pods(selector: Option<&LabelSelector>, labels: &Labels) -> Option<String> {
    match selects(selector, labels) {
        Ok(true) => None,
        Ok(false) if selector.is_none() => {
            Some("has a null labelSelector, which selects no pod".into())
        }
        Ok(false) => Some(format!(
            "selects {}, which spec.template.metadata.labels ({}) do not match",
            selector.map(ToString::to_string).unwrap_or_default(),
            format_labels(labels)
        )),
        Err(why) => Some(format!(
            "has an invalid labelSelector ({why}), which selects no pod"
        )),
    }
}

/// `matchLabelKeys` add `key in (own value)` to the selector: a key whose
/// value differs on every replica narrows the term to the pod itself.
fn narrowed_to_itself(match_label_keys: &[String]) -> Option<String> {
    let key = match_label_keys
        .iter()
        .find(|k| PER_POD_LABELS.contains(&k.as_str()))?;
    Some(format!(
        "has matchLabelKeys {}, whose value differs on every replica, so it selects only the pod itself",
        quote(key)
    ))
}

/// Why an anti-affinity term does not apply to the set's own namespace, or
/// `None` when it does: no namespaces and no namespaceSelector mean "this
/// pod's namespace"; otherwise
/// the listed namespaces and those the namespaceSelector selects
/// (`AffinityTerm.Matches`, pkg/scheduler/framework/types.go). Of a
/// namespace's labels only `kubernetes.io/metadata.name` is known without a
/// look-up.
fn misses_own_namespace(term: &PodAffinityTerm, namespace: &str) -> Option<String> {
    if term.namespaces.is_empty() && term.namespace_selector.is_none()
        || term.namespaces.iter().any(|n| n == namespace)
    {
        return None;
    }
    if let Some(selector) = &term.namespace_selector {
        let keys = selector
            .match_labels
            .keys()
            .chain(selector.match_expressions.iter().map(|r| &r.key));
        let name_only = keys.into_iter().all(|k| k == NAMESPACE_NAME_LABEL);
        if !name_only {
            return Some(format!(
                "has a namespaceSelector ({selector}) on namespace labels the policy does not look up; list {} in namespaces, or select it by {NAMESPACE_NAME_LABEL}",
                quote(namespace)
            ));
        }
        let own: Labels = [(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())].into();
        if selects(Some(selector), &own) == Ok(true) {
            return None;
        }
    }
    Some(format!(
        "applies only to other namespaces than {}",
        quote(namespace)
    ))
}

/// Why a pod anti-affinity term does not keep the set's replicas apart, or
/// `None` when it does.
fn term_misses(
    term: &PodAffinityTerm,
    keys: &[String],
    labels: &Labels,
    namespace: &str,
) -> Option<String> {
    let key = term.topology_key.as_deref().unwrap_or("");
    if !keys.iter().any(|k| k == key) {
        return Some(format!(
            "has topologyKey {}, not {}",
            quote(key),
            one_of(keys)
        ));
    }
    if let Some(why) = misses_own_namespace(term, namespace) {
        return Some(why);
    }
    if let Some(why) = misses_own_pods(term.label_selector.as_ref(), labels) {
        return Some(why);
    }
    if let Some(why) = narrowed_to_itself(&term.match_label_keys) {
        return Some(why);
    }
    // `mismatchLabelKeys` add `key notin (own value)`: a value the replicas
    // share excludes every other replica.
    let shared = term
        .mismatch_label_keys
        .iter()
        .find(|k| labels.contains_key(*k) || k.as_str() == REVISION_LABEL)?;
    Some(format!(
        "has mismatchLabelKeys {}, a label the replicas share, so it excludes the other replicas",
        quote(shared)
    ))
}

/// Why a topology spread constraint does not keep the set's replicas apart,
/// or `None` when it does. Both `whenUnsatisfiable` values spread:
/// DoNotSchedule as a filter, ScheduleAnyway as a score, like required and
/// preferred anti-affinity.
fn constraint_misses(
    constraint: &TopologySpreadConstraint,
    keys: &[String],
    labels: &Labels,
) -> Option<String> {
    let key = constraint.topology_key.as_deref().unwrap_or("");
    if !keys.iter().any(|k| k == key) {
        return Some(format!(
            "has topologyKey {}, not {}",
            quote(key),
            one_of(keys)
        ));
    }
    misses_own_pods(constraint.label_selector.as_ref(), labels)
        .or_else(|| narrowed_to_itself(&constraint.match_label_keys))
}

/// `pods-spread`: with more than one replica, some pod anti-affinity term
/// (required or preferred) or topology spread constraint on one of `keys`
/// selects the set's own pods.
pub fn pods_spread(sts: &StatefulSet, keys: &[String]) -> Option<Violation> {
    let replicas = sts.spec.replicas_or_default();
    if replicas <= 1 || keys.is_empty() {
        return None;
    }
    let pod = &sts.spec.template.spec;
    let labels = &sts.spec.template.metadata.labels;
    let namespace = &sts.metadata.namespace;
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref());
    let mut misses = Vec::new();
    if let Some(anti) = anti {
        let required = &anti.required_during_scheduling_ignored_during_execution;
        for (i, term) in required.iter().enumerate() {
            match term_misses(term, keys, labels, namespace) {
                None => return None,
                Some(why) => misses.push(format!(
                    "podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[{i}] {why}"
                )),
            }
        }
        let preferred = &anti.preferred_during_scheduling_ignored_during_execution;
        for (i, weighted) in preferred.iter().enumerate() {
            match term_misses(&weighted.pod_affinity_term, keys, labels, namespace) {
                None => return None,
                Some(why) => misses.push(format!(
                    "podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}] {why}"
                )),
            }
        }
    }
    for (i, constraint) in pod.topology_spread_constraints.iter().enumerate() {
        match constraint_misses(constraint, keys, labels) {
            None => return None,
            Some(why) => misses.push(format!("topologySpreadConstraints[{i}] {why}")),
        }
    }
    let found = if misses.is_empty() {
        "without podAntiAffinity or topologySpreadConstraints"
    } else {
        "without a term that spreads the replicas"
    };
    let own = format_labels(labels);
    let mut rule = format!(
        "with {replicas} replicas, no pod anti-affinity term or topology spread constraint on {} selects the set's own pods ({own}), so the scheduler may put several or all of them in one such domain (its built-in spreading is only a preference, with maxSkew 3), and one node failure or drain takes them down together; add a preferred or required podAntiAffinity term or a topologySpreadConstraint with that topologyKey whose labelSelector selects {own}",
        one_of(keys)
    );
    if !misses.is_empty() {
        rule.push_str(&format!(" (not spreading: {})", misses.join("; ")));
    }
    Some(Violation::new(
        CheckId::PodsSpread,
        "spec.template.spec",
        found,
        rule,
    ))
}

/// `pdb-covers-pods` and `pdb-allows-disruption`, from the namespace's
/// PodDisruptionBudgets (looked up only when replicas > 1).
pub fn disruption_budgets(
    sts: &StatefulSet,
    settings: &Settings,
    facts: &ClusterFacts,
) -> Vec<Violation> {
    let replicas = sts.spec.replicas_or_default();
    let covers = settings.runs(CheckId::PdbCoversPods);
    let allows = settings.runs(CheckId::PdbAllowsDisruption);
    if replicas <= 1 || !(covers || allows) {
        return Vec::new();
    }
    let namespace = &sts.metadata.namespace;
    let budgets = match &facts.pod_disruption_budgets {
        Fact::Found(budgets) => budgets,
        Fact::Failed(error) => {
            let check = if covers {
                CheckId::PdbCoversPods
            } else {
                CheckId::PdbAllowsDisruption
            };
            // Resting on what both checks read: another set of labels or
            // replicas is not the old object's failure.
            let inputs = format!(
                "{} replicas={replicas}",
                format_labels(&sts.spec.template.metadata.labels)
            );
            return vec![Violation::lookup_failure(
                check,
                LABELS_FIELD,
                "unverified",
                error.explain(
                    &format!("the PodDisruptionBudgets of namespace {namespace}"),
                    &POD_DISRUPTION_BUDGETS,
                ),
            )
            .with_inputs(inputs)];
        }
        Fact::NotLookedUp | Fact::NotFound => return Vec::new(),
    };
    let labels = &sts.spec.template.metadata.labels;
    let own = format_labels(labels);
    let selecting: Vec<&PodDisruptionBudget> = budgets
        .iter()
        .filter(|b| selects(b.spec.selector.as_ref(), labels) == Ok(true))
        .collect();
    let mut violations = Vec::new();
    if selecting.is_empty() && covers {
        let mut rule = format!(
            "no PodDisruptionBudget in namespace {} selects these pods, so a node drain may evict all {replicas} replicas at once and the set loses its quorum; create one whose selector matches them, with maxUnavailable: 1",
            quote(namespace)
        );
        if !budgets.is_empty() {
            let others: Vec<String> = budgets
                .iter()
                .take(5)
                .map(|b| {
                    let name = quote(&b.metadata.name);
                    match misses_own_pods(b.spec.selector.as_ref(), labels) {
                        Some(why) => format!("{name} {why}"),
                        None => name,
                    }
                })
                .collect();
            let more = budgets.len().saturating_sub(others.len());
            let more = if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            };
            rule.push_str(&format!(" (there: {}{more})", others.join("; ")));
        }
        violations.push(Violation::new(
            CheckId::PdbCoversPods,
            LABELS_FIELD,
            own.clone(),
            rule,
        ));
    }
    if !allows {
        return violations;
    }
    if selecting.len() > 1 {
        let names: Vec<&str> = selecting.iter().map(|b| b.metadata.name.as_str()).collect();
        violations.push(Violation::new(
            CheckId::PdbAllowsDisruption,
            LABELS_FIELD,
            own,
            format!(
                "PodDisruptionBudgets {} all select these pods, and the eviction API refuses to evict a pod that more than one PodDisruptionBudget selects, so every node drain blocks on them; keep one",
                quoted_list(&names)
            ),
        ));
    }
    for budget in selecting {
        if let Some(violation) = blocks_every_drain(budget, namespace, replicas) {
            violations.push(violation);
        }
    }
    violations
}

/// `GetScaledValueFromIntOrPercent` with rounding up, as the disruption
/// controller calls it (apimachinery `pkg/util/intstr`): an integer as it is,
/// `"N%"` as ceil(N × total / 100); any other string is an error.
fn scaled(value: &IntOrString, total: i32) -> Option<i64> {
    match value {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::Other(_) => None,
        IntOrString::String(text) => {
            let percent: i64 = text.strip_suffix('%')?.parse().ok()?;
            let product = percent.checked_mul(i64::from(total))?;
            // Integer ceiling; `/` truncates toward zero, the ceiling of a negative.
            Some(if product >= 0 {
                (product + 99) / 100
            } else {
                product / 100
            })
        }
    }
}

fn shown(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(text) => quote(text),
        IntOrString::Other(what) => what.clone(),
    }
}

/// `pdb-allows-disruption` for one budget selecting the set's pods: the
/// disruptions it allows with every replica healthy, computed as
/// `getExpectedPodCount` and `updatePdbStatus` do (pkg/controller/disruption):
/// maxUnavailable → desired = replicas − scaled(maxUnavailable); minAvailable
/// integer → desired = minAvailable; percentage → desired =
/// scaled(minAvailable); allowed = replicas − desired. A value the controller
/// cannot compute makes it allow no disruption (`failSafe`).
fn blocks_every_drain(
    budget: &PodDisruptionBudget,
    namespace: &str,
    replicas: i32,
) -> Option<Violation> {
    let (key, value) = match (&budget.spec.max_unavailable, &budget.spec.min_available) {
        (Some(max), _) => ("maxUnavailable", max),
        (None, Some(min)) => ("minAvailable", min),
        // Neither: nothing is required, every disruption is allowed.
        (None, None) => return None,
    };
    let total = i64::from(replicas);
    let field = format!(
        "PodDisruptionBudget {namespace}/{} spec.{key}",
        budget.metadata.name
    );
    let consequence =
        "so it allows no voluntary disruption and every node drain blocks on these pods";
    let rule = match scaled(value, replicas) {
        None => "it selects these pods, and the disruption controller cannot compute a value that is neither an integer nor a percentage, so it allows no disruption at all and every node drain blocks on these pods".to_string(),
        Some(max) if key == "maxUnavailable" => {
            let desired = (total - max).max(0);
            if total - desired > 0 {
                return None;
            }
            format!("it selects these pods and lets none of the {replicas} replicas be unavailable, {consequence}; allow one, with maxUnavailable: 1")
        }
        Some(desired) => {
            if total - desired > 0 {
                return None;
            }
            let rounding = if matches!(value, IntOrString::String(_)) {
                ", percentages rounded up as the disruption controller rounds them"
            } else {
                ""
            };
            format!(
                "it selects these pods and requires {desired} of the {replicas} replicas available{rounding}, {consequence}; require at most {}, or use maxUnavailable: 1",
                replicas - 1
            )
        }
    };
    Some(Violation::new(
        CheckId::PdbAllowsDisruption,
        field,
        shown(value),
        rule,
    ))
}
