//! Availability: replicas kept apart by the scheduler, and node drains that
//! neither evict every replica at once nor block forever.
//!
//! Which pods a term or budget selects follows Kubernetes (see `labels`),
//! matched against the labels each replica really has: the template's plus
//! those the StatefulSet controller sets (see `replicas`).

use crate::cluster::{
    ClusterFacts, Fact, IntOrString, PodDisruptionBudget, POD_DISRUPTION_BUDGETS,
};
use crate::labels::{format_labels, selects, LabelSelector, Labels};
use crate::replicas::{selected_replicas, Replicas, Selection, PER_REPLICA_LABELS, REVISION_LABEL};
use crate::settings::Settings;
use crate::statefulset::{PodAffinityTerm, StatefulSet, TopologySpreadConstraint};
use crate::violation::{quote, quoted_list, CheckId, Violation};

/// The label the API server sets on every Namespace, to its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

const LABELS_FIELD: &str = "spec.template.metadata.labels";

fn one_of(keys: &[String]) -> String {
    match keys {
        [key] => quote(key),
        _ => format!("one of {}", quoted_list(keys)),
    }
}

/// Why a selector does not select every replica of the set, or `None` when it does.
fn misses_replicas(selector: Option<&LabelSelector>, replicas: &Replicas) -> Option<String> {
    match selected_replicas(selector, replicas) {
        Ok(Selection::All) => None,
        Ok(_) if selector.is_none() => {
            Some("has a null labelSelector, which selects no pod".into())
        }
        Ok(selection) => Some(format!(
            "selects {}, which matches {} (their labels: {}, plus {} and {} of their own)",
            selector.map(ToString::to_string).unwrap_or_default(),
            selection.describe(replicas),
            format_labels(replicas.template_labels),
            PER_REPLICA_LABELS[0],
            PER_REPLICA_LABELS[1],
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
        .find(|k| PER_REPLICA_LABELS.contains(&k.as_str()))?;
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
    replicas: &Replicas,
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
    if let Some(why) = misses_replicas(term.label_selector.as_ref(), replicas) {
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
        .find(|k| replicas.template_labels.contains_key(*k) || k.as_str() == REVISION_LABEL)?;
    Some(format!(
        "has mismatchLabelKeys {}, a label the replicas share, so it excludes the other replicas",
        quote(shared)
    ))
}

/// Why a topology spread constraint does not keep the set's replicas apart,
/// or `None` when it does. Both `whenUnsatisfiable` values spread:
/// DoNotSchedule as a filter, ScheduleAnyway as a score, like required and
/// preferred anti-affinity. But the filter rejects a domain only when placing
/// the pod there would make the skew exceed `maxSkew`
/// (pkg/scheduler/framework/plugins/podtopologyspread/filtering.go): with `n`
/// replicas the skew never exceeds `n`, so `maxSkew >= n` rejects no node,
/// and a pod's own constraints replace the scheduler's default spreading.
fn constraint_misses(
    constraint: &TopologySpreadConstraint,
    keys: &[String],
    replicas: &Replicas,
) -> Option<String> {
    let key = constraint.topology_key.as_deref().unwrap_or("");
    if !keys.iter().any(|k| k == key) {
        return Some(format!(
            "has topologyKey {}, not {}",
            quote(key),
            one_of(keys)
        ));
    }
    if let Some(why) = misses_replicas(constraint.label_selector.as_ref(), replicas)
        .or_else(|| narrowed_to_itself(&constraint.match_label_keys))
    {
        return Some(why);
    }
    let max_skew = i64::from(constraint.max_skew.unwrap_or(1));
    let filters = constraint.when_unsatisfiable.as_deref() != Some("ScheduleAnyway");
    (filters && max_skew >= replicas.count).then(|| {
        format!(
            "has whenUnsatisfiable DoNotSchedule with maxSkew {max_skew}, not below the {} replicas, so it never rejects a node, and it replaces the scheduler's default spreading",
            replicas.count
        )
    })
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
    let set = Replicas::of(sts);
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref());
    let mut misses = Vec::new();
    if let Some(anti) = anti {
        let required = &anti.required_during_scheduling_ignored_during_execution;
        for (i, term) in required.iter().enumerate() {
            match term_misses(term, keys, &set, namespace) {
                None => return None,
                Some(why) => misses.push(format!(
                    "podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[{i}] {why}"
                )),
            }
        }
        let preferred = &anti.preferred_during_scheduling_ignored_during_execution;
        for (i, weighted) in preferred.iter().enumerate() {
            match term_misses(&weighted.pod_affinity_term, keys, &set, namespace) {
                None => return None,
                Some(why) => misses.push(format!(
                    "podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}] {why}"
                )),
            }
        }
    }
    for (i, constraint) in pod.topology_spread_constraints.iter().enumerate() {
        match constraint_misses(constraint, keys, &set) {
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
        "with {replicas} replicas, no pod anti-affinity term or topology spread constraint on {} selects all the set's own pods ({own}), so the scheduler may put several or all of them in one such domain (its built-in spreading is only a preference, with maxSkew 3), and one node failure or drain takes them down together; add a preferred or required podAntiAffinity term or a topologySpreadConstraint with that topologyKey whose labelSelector selects {own}",
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
    let set = Replicas::of(sts);
    // Each budget with the replicas it selects; a budget selecting none is
    // no budget of this set.
    let selecting: Vec<(&PodDisruptionBudget, Selection)> = budgets
        .iter()
        .filter_map(
            |b| match selected_replicas(b.spec.selector.as_ref(), &set) {
                Ok(Selection::None) | Err(_) => None,
                Ok(selection) => Some((b, selection)),
            },
        )
        .collect();
    let covered = selecting
        .iter()
        .fold(Selection::None, |all, (_, s)| all.union(s, &set));
    let mut violations = Vec::new();
    if covered != Selection::All && covers {
        let uncovered = covered.complement(&set);
        let mut rule = if covered == Selection::None {
            format!(
                "no PodDisruptionBudget in namespace {} selects these pods, so nothing limits voluntary disruptions: a node drain may evict all {replicas} replicas at once; create one whose selector matches them, with maxUnavailable: 1",
                quote(namespace)
            )
        } else {
            format!(
                "the PodDisruptionBudgets of namespace {} select {} of this set: a node drain may evict {} without limit; select every replica (by the template's labels)",
                quote(namespace),
                covered.describe(&set),
                uncovered.pods(&set)
            )
        };
        if covered == Selection::None && !budgets.is_empty() {
            let others: Vec<String> = budgets
                .iter()
                .take(5)
                .map(|b| {
                    let name = quote(&b.metadata.name);
                    match misses_replicas(b.spec.selector.as_ref(), &set) {
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
    // The eviction API refuses to evict a pod that more than one budget selects.
    let overlapping: Vec<&str> = selecting
        .iter()
        .enumerate()
        .filter(|(i, (_, mine))| {
            selecting
                .iter()
                .enumerate()
                .any(|(j, (_, other))| *i != j && mine.intersection(other, &set) != Selection::None)
        })
        .map(|(_, (b, _))| b.metadata.name.as_str())
        .collect();
    if !overlapping.is_empty() {
        violations.push(Violation::new(
            CheckId::PdbAllowsDisruption,
            LABELS_FIELD,
            own,
            format!(
                "PodDisruptionBudgets {} select the same pods of this set, and the eviction API refuses to evict a pod that more than one PodDisruptionBudget selects, so every node drain blocks on them; keep one",
                quoted_list(&overlapping)
            ),
        ));
    }
    for (budget, selection) in &selecting {
        if let Some(violation) = blocks_every_drain(budget, namespace, &set, selection) {
            violations.push(violation);
        }
    }
    violations
}

/// `GetScaledValueFromIntOrPercent` with rounding up, as the disruption
/// controller calls it (apimachinery `pkg/util/intstr`): an integer as it is,
/// `"N%"` as ceil(N × total / 100); any other string is an error.
fn scaled(value: &IntOrString, total: i64) -> Option<i64> {
    match value {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::Other(_) => None,
        IntOrString::String(text) => {
            let percent: i64 = text.strip_suffix('%')?.parse().ok()?;
            let product = percent.checked_mul(total)?;
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

/// `pdb-allows-disruption` for one budget selecting some of the set's pods:
/// the disruptions it allows with every replica healthy, computed as
/// `getExpectedPodCount` and `updatePdbStatus` do (pkg/controller/disruption):
/// maxUnavailable → desired = scale − scaled(maxUnavailable, scale), where
/// the scale is the set's replicas (`getExpectedScale`); minAvailable integer
/// → desired = minAvailable; percentage → desired = scaled(minAvailable,
/// scale); neither → the expected count stays 0, which allows nothing;
/// allowed = selected healthy pods − desired. A value the controller cannot
/// compute makes it allow no disruption (`failSafe`).
fn blocks_every_drain(
    budget: &PodDisruptionBudget,
    namespace: &str,
    set: &Replicas,
    selection: &Selection,
) -> Option<Violation> {
    let name = &budget.metadata.name;
    let scale = set.count;
    let healthy = selection.count(set);
    let which = selection.describe(set);
    let consequence =
        "so it allows no voluntary disruption and every node drain blocks on these pods";
    let (key, value) = match (&budget.spec.max_unavailable, &budget.spec.min_available) {
        (Some(max), _) => ("maxUnavailable", max),
        (None, Some(min)) => ("minAvailable", min),
        (None, None) => {
            return Some(Violation::new(
                CheckId::PdbAllowsDisruption,
                format!("PodDisruptionBudget {namespace}/{name} spec.maxUnavailable"),
                "absent, as is spec.minAvailable",
                format!("it selects {which}, and a budget with neither field leaves the disruption controller's expected pod count at 0, {consequence}; set maxUnavailable: 1"),
            ));
        }
    };
    let field = format!("PodDisruptionBudget {namespace}/{name} spec.{key}");
    let rule = match scaled(value, scale) {
        None => format!("it selects {which}, and the disruption controller cannot compute a value that is neither an integer nor a percentage, so it allows no disruption at all and every node drain blocks on these pods"),
        Some(max) if key == "maxUnavailable" => {
            let desired = (scale - max).max(0);
            if healthy - desired > 0 {
                return None;
            }
            if healthy == scale {
                format!("it selects {which} and lets none of them be unavailable, {consequence}; allow one, with maxUnavailable: 1")
            } else {
                format!("it selects {which}, yet the disruption controller counts the set's whole scale ({scale}) against maxUnavailable: it requires {desired} healthy pods of the {healthy} it selects, {consequence}; select every replica")
            }
        }
        Some(desired) => {
            if healthy - desired > 0 {
                return None;
            }
            let rounding = if matches!(value, IntOrString::String(_)) {
                ", percentages rounded up as the disruption controller rounds them"
            } else {
                ""
            };
            let noun = if healthy == scale { "replicas" } else { "selected replicas" };
            format!(
                "it selects {which} and requires {desired} of the {healthy} {noun} available{rounding}, {consequence}; require at most {}, or use maxUnavailable: 1",
                healthy - 1
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
