//! The replicas of a StatefulSet as the StatefulSet controller creates them,
//! and which of them a label selector selects.
//!
//! Every replica carries the template's labels plus three the controller sets
//! itself, over any of the same key in the template
//! (pkg/controller/statefulset/stateful_set_utils.go):
//! - `statefulset.kubernetes.io/pod-name`: `<set>-<ordinal>` (`updateIdentity`);
//! - `apps.kubernetes.io/pod-index`: the ordinal in decimal (`updateIdentity`,
//!   the PodIndexLabel feature, GA since 1.32);
//! - `controller-revision-hash`: the hash of the revision the pod was made
//!   from (`setPodRevision`), not known at admission.
//!
//! Ordinals run from `spec.ordinals.start` (default 0) for `spec.replicas`
//! (default 1) pods. A selector can therefore select all, some or none of the
//! replicas; requirements on the per-replica labels are worked out for the
//! whole range at once, so the cost does not grow with the replica count.

use crate::labels::{LabelSelector, Labels, Requirement};
use crate::statefulset::StatefulSet;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The labels whose value differs from one replica to the next.
pub const PER_REPLICA_LABELS: [&str; 2] = [POD_NAME_LABEL, POD_INDEX_LABEL];

/// The replicas of one StatefulSet.
#[derive(Debug, Clone, Copy)]
pub struct Replicas<'a> {
    /// `metadata.name`: pods are `<name>-<ordinal>`.
    pub name: &'a str,
    /// `spec.template.metadata.labels`.
    pub template_labels: &'a Labels,
    /// The first ordinal (`spec.ordinals.start`).
    pub start: i64,
    /// How many (`spec.replicas`, at least 0).
    pub count: i64,
}

impl<'a> Replicas<'a> {
    pub fn of(sts: &'a StatefulSet) -> Replicas<'a> {
        Replicas {
            name: &sts.metadata.name,
            template_labels: &sts.spec.template.metadata.labels,
            start: i64::from(sts.spec.ordinals_start()),
            count: i64::from(sts.spec.replicas_or_default()).max(0),
        }
    }

    /// The name of the pod of `ordinal`.
    pub fn pod_name(&self, ordinal: i64) -> String {
        format!("{}-{ordinal}", self.name)
    }

    /// The ordinal a pod-name or pod-index label value names, as the
    /// controller writes them (decimal, no sign, no leading zero).
    fn ordinal_of(&self, key: &str, value: &str) -> Option<i64> {
        let digits = if key == POD_NAME_LABEL {
            value.strip_prefix(self.name)?.strip_prefix('-')?
        } else {
            value
        };
        let ordinal: i64 = digits.parse().ok()?;
        (ordinal >= 0 && ordinal.to_string() == digits).then_some(ordinal)
    }
}

/// Which replicas a selector selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every replica (also when there are none).
    All,
    /// None of them, while there is at least one.
    None,
    /// Some but not all: these ordinals, ascending.
    Only(Vec<i64>),
    /// Some but not all: every ordinal but these, ascending.
    AllBut(Vec<i64>),
}

impl Selection {
    /// How many replicas are selected, out of `replicas.count`.
    pub fn count(&self, replicas: &Replicas) -> i64 {
        match self {
            Selection::All => replicas.count,
            Selection::None => 0,
            Selection::Only(selected) => selected.len() as i64,
            Selection::AllBut(excluded) => replicas.count - excluded.len() as i64,
        }
    }

    /// The selected pods by name, for a message: `web-0 and web-2`,
    /// `every replica but web-1`.
    pub fn pods(&self, replicas: &Replicas) -> String {
        match self {
            Selection::All => "every replica".into(),
            Selection::None => "no replica".into(),
            Selection::Only(selected) => names(replicas, selected),
            Selection::AllBut(excluded) => {
                format!("every replica but {}", names(replicas, excluded))
            }
        }
    }

    /// The replicas either selection selects.
    pub fn union(&self, other: &Selection, replicas: &Replicas) -> Selection {
        selection(self.filter().or(other.filter()), replicas)
    }

    /// The replicas both selections select.
    pub fn intersection(&self, other: &Selection, replicas: &Replicas) -> Selection {
        selection(self.filter().and(other.filter()), replicas)
    }

    /// The replicas this selection leaves out.
    pub fn complement(&self, replicas: &Replicas) -> Selection {
        let filter = match self.filter() {
            Filter::Only(a) => Filter::AllBut(a),
            Filter::AllBut(a) => Filter::Only(a),
        };
        selection(filter, replicas)
    }

    fn filter(&self) -> Filter {
        match self {
            Selection::All => Filter::everything(),
            Selection::None => Filter::nothing(),
            Selection::Only(ordinals) => Filter::Only(ordinals.clone()),
            Selection::AllBut(ordinals) => Filter::AllBut(ordinals.clone()),
        }
    }

    /// Which replicas, for a message: `only web-0 and web-2 of the 3 replicas`,
    /// `all 3 replicas but web-1`, `none of the 3 replicas`.
    pub fn describe(&self, replicas: &Replicas) -> String {
        let count = replicas.count;
        match self {
            Selection::All if count == 1 => "the one replica".into(),
            Selection::All => format!("all {count} replicas"),
            Selection::None if count == 1 => "no replica".into(),
            Selection::None => format!("none of the {count} replicas"),
            Selection::Only(selected) => {
                format!("only {} of the {count} replicas", names(replicas, selected))
            }
            Selection::AllBut(excluded) => {
                format!("all {count} replicas but {}", names(replicas, excluded))
            }
        }
    }
}

/// How many pod names a message lists at most.
const NAMED: usize = 5;

fn names(replicas: &Replicas, ordinals: &[i64]) -> String {
    let shown: Vec<String> = ordinals
        .iter()
        .take(NAMED)
        .map(|o| replicas.pod_name(*o))
        .collect();
    let mut text = match shown.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    if ordinals.len() > NAMED {
        text.push_str(&format!(" (and {} more)", ordinals.len() - NAMED));
    }
    text
}

/// Ordinals kept by the requirements read so far: a finite list, or
/// everything but a finite list. Lists are sorted and without duplicates
/// (plain vectors: a few ordinals at most, and no tree code in the module).
#[derive(Debug, Clone)]
enum Filter {
    Only(Vec<i64>),
    AllBut(Vec<i64>),
}

/// A sorted list without duplicates. A heapsort of its own: the standard
/// library's sorts would add 3 KB of module for this one element type.
fn sorted(mut ordinals: Vec<i64>) -> Vec<i64> {
    fn sift_down(heap: &mut [i64], mut root: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= heap.len() {
                return;
            }
            if child + 1 < heap.len() && heap[child] < heap[child + 1] {
                child += 1;
            }
            if heap[root] >= heap[child] {
                return;
            }
            heap.swap(root, child);
            root = child;
        }
    }
    for root in (0..ordinals.len() / 2).rev() {
        sift_down(&mut ordinals, root);
    }
    for end in (1..ordinals.len()).rev() {
        ordinals.swap(0, end);
        sift_down(&mut ordinals[..end], 0);
    }
    ordinals.dedup();
    ordinals
}

/// `a` without the members of `b` (both sorted).
fn without(a: &[i64], b: &[i64]) -> Vec<i64> {
    a.iter()
        .copied()
        .filter(|o| b.binary_search(o).is_err())
        .collect()
}

/// The members of `a` also in `b` (both sorted).
fn within(a: &[i64], b: &[i64]) -> Vec<i64> {
    a.iter()
        .copied()
        .filter(|o| b.binary_search(o).is_ok())
        .collect()
}

impl Filter {
    fn and(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::Only(a), Filter::Only(b)) => Filter::Only(within(&a, &b)),
            (Filter::Only(a), Filter::AllBut(b)) | (Filter::AllBut(b), Filter::Only(a)) => {
                Filter::Only(without(&a, &b))
            }
            (Filter::AllBut(a), Filter::AllBut(b)) => Filter::AllBut(sorted([a, b].concat())),
        }
    }

    fn or(self, other: Filter) -> Filter {
        match (self, other) {
            (Filter::Only(a), Filter::Only(b)) => Filter::Only(sorted([a, b].concat())),
            (Filter::Only(a), Filter::AllBut(b)) | (Filter::AllBut(b), Filter::Only(a)) => {
                Filter::AllBut(without(&b, &a))
            }
            (Filter::AllBut(a), Filter::AllBut(b)) => Filter::AllBut(within(&a, &b)),
        }
    }

    fn nothing() -> Filter {
        Filter::Only(Vec::new())
    }

    fn everything() -> Filter {
        Filter::AllBut(Vec::new())
    }
}

/// Which of `replicas` a selector selects, `None` being the `null` selector
/// (it selects nothing); `Err` says why the selector is invalid, in which case
/// Kubernetes matches nothing with it (see `labels`).
pub fn selected_replicas(
    selector: Option<&LabelSelector>,
    replicas: &Replicas,
) -> Result<Selection, String> {
    let Some(selector) = selector else {
        return Ok(selection(Filter::nothing(), replicas));
    };
    if let Some(why) = selector.invalid() {
        return Err(why);
    }
    let filter = selector
        .match_expressions
        .iter()
        .map(|requirement| requirement_filter(requirement, replicas))
        .fold(pairs_filter(&selector.match_labels, replicas), Filter::and);
    Ok(selection(filter, replicas))
}

/// Which of `replicas` a Service's `selector` map selects: every pair must
/// match (a Service selector has no operators, nothing to be invalid).
pub fn selected_by_map(selector: &Labels, replicas: &Replicas) -> Selection {
    selection(pairs_filter(selector, replicas), replicas)
}

/// `key: value` pairs, each the requirement `key in (value)`.
fn pairs_filter(pairs: &Labels, replicas: &Replicas) -> Filter {
    pairs
        .iter()
        .map(|(key, value)| {
            let requirement = Requirement {
                key: key.clone(),
                operator: "In".into(),
                values: vec![value.clone()],
            };
            requirement_filter(&requirement, replicas)
        })
        .fold(Filter::everything(), Filter::and)
}

fn requirement_filter(requirement: &Requirement, replicas: &Replicas) -> Filter {
    let key = requirement.key.as_str();
    let operator = requirement.operator.as_str();
    if PER_REPLICA_LABELS.contains(&key) {
        let ordinals = || {
            sorted(
                requirement
                    .values
                    .iter()
                    .filter_map(|value| replicas.ordinal_of(key, value))
                    .collect(),
            )
        };
        return match operator {
            "In" => Filter::Only(ordinals()),
            "NotIn" => Filter::AllBut(ordinals()),
            "Exists" => Filter::everything(),
            _ => Filter::nothing(),
        };
    }
    if key == REVISION_LABEL {
        // Present on every replica with a value not known at admission: a
        // selector naming values selects at most the pods of one revision,
        // until the next rollout, so it is not counted on; excluding values
        // leaves every pod of later revisions selected.
        return match operator {
            "Exists" | "NotIn" => Filter::everything(),
            _ => Filter::nothing(),
        };
    }
    let value = replicas.template_labels.get(key);
    let listed = || value.is_some_and(|v| requirement.values.contains(v));
    let matched = match operator {
        "In" => listed(),
        "NotIn" => !listed(),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    };
    if matched {
        Filter::everything()
    } else {
        Filter::nothing()
    }
}

/// The selection a filter makes of `replicas`, written with the shorter of
/// its two lists (the selected ordinals, or those left out), so that a
/// message names the fewest pods; a tie names the selected ones.
fn selection(filter: Filter, replicas: &Replicas) -> Selection {
    let count = replicas.count;
    let range = replicas.start..replicas.start + count;
    let (ordinals, listed_are_selected) = match filter {
        Filter::Only(ordinals) => (ordinals, true),
        Filter::AllBut(ordinals) => (ordinals, false),
    };
    let listed: Vec<i64> = ordinals.into_iter().filter(|o| range.contains(o)).collect();
    let listed_count = listed.len() as i64;
    let chosen = if listed_are_selected {
        listed_count
    } else {
        count - listed_count
    };
    if chosen == count {
        return Selection::All;
    }
    if chosen == 0 {
        return Selection::None;
    }
    let name_selected = chosen <= count - chosen;
    let names = if name_selected == listed_are_selected {
        listed
    } else {
        // The other list is the shorter: at most as long as `listed`, so
        // this walks at most twice its length.
        range.filter(|o| listed.binary_search(o).is_err()).collect()
    };
    if name_selected {
        Selection::Only(names)
    } else {
        Selection::AllBut(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels() -> Labels {
        [("app".to_string(), "web".to_string())].into()
    }

    fn set(labels: &Labels, count: i64) -> Replicas<'_> {
        Replicas {
            name: "web",
            template_labels: labels,
            start: 0,
            count,
        }
    }

    fn select(selector: serde_json::Value, replicas: &Replicas) -> Selection {
        let selector: LabelSelector = serde_json::from_value(selector).expect("a selector");
        selected_replicas(Some(&selector), replicas).expect("a valid selector")
    }

    #[test]
    fn every_operator_on_each_per_replica_label() {
        let labels = labels();
        let replicas = set(&labels, 3);
        let expression = |key: &str, operator: &str, values: &[&str]| json!({"matchExpressions": [{"key": key, "operator": operator, "values": values}]});
        for (key, first, second) in [
            (POD_NAME_LABEL, "web-0", "web-2"),
            (POD_INDEX_LABEL, "0", "2"),
        ] {
            // Written with the shorter list: two selected of three is "all but web-1".
            assert_eq!(
                select(expression(key, "In", &[first, second]), &replicas),
                Selection::AllBut(vec![1])
            );
            assert_eq!(
                select(expression(key, "In", &[first]), &replicas),
                Selection::Only(vec![0])
            );
            assert_eq!(
                select(expression(key, "NotIn", &[first]), &replicas),
                Selection::AllBut(vec![0])
            );
            assert_eq!(
                select(expression(key, "Exists", &[]), &replicas),
                Selection::All
            );
            assert_eq!(
                select(expression(key, "DoesNotExist", &[]), &replicas),
                Selection::None
            );
            // Values naming no replica of this set.
            assert_eq!(
                select(expression(key, "In", &["web-9", "9", "db-0"]), &replicas),
                Selection::None
            );
            assert_eq!(
                select(expression(key, "NotIn", &["web-9", "9"]), &replicas),
                Selection::All
            );
        }
        for (operator, values, expected) in [
            ("Exists", &[][..], Selection::All),
            ("DoesNotExist", &[][..], Selection::None),
            ("In", &["5d8f7"][..], Selection::None),
            ("NotIn", &["5d8f7"][..], Selection::All),
        ] {
            assert_eq!(
                select(expression(REVISION_LABEL, operator, values), &replicas),
                expected,
                "{operator}"
            );
        }
    }

    #[test]
    fn a_huge_set_is_judged_without_listing_its_replicas() {
        let labels = labels();
        let replicas = set(&labels, i64::from(i32::MAX));
        let selection = select(
            json!({"matchExpressions": [{"key": POD_INDEX_LABEL, "operator": "NotIn", "values": ["7"]}]}),
            &replicas,
        );
        assert_eq!(selection, Selection::AllBut(vec![7]));
        assert_eq!(selection.count(&replicas), i64::from(i32::MAX) - 1);
        assert_eq!(
            selection.describe(&replicas),
            "all 2147483647 replicas but web-7"
        );
        let everything = selection.union(&Selection::Only(vec![7]), &replicas);
        assert_eq!(everything, Selection::All);
        assert_eq!(selection.complement(&replicas), Selection::Only(vec![7]));
    }

    #[test]
    fn selections_combine_and_read() {
        let labels = labels();
        let replicas = set(&labels, 7);
        let low = Selection::Only(vec![0, 1]);
        let not_one = Selection::AllBut(vec![1]);
        assert_eq!(
            low.intersection(&not_one, &replicas),
            Selection::Only(vec![0])
        );
        assert_eq!(low.union(&not_one, &replicas), Selection::All);
        assert_eq!(
            Selection::None.intersection(&Selection::All, &replicas),
            Selection::None
        );
        let many = set(&labels, 20);
        assert_eq!(
            Selection::Only((0..7).collect()).describe(&many),
            "only web-0, web-1, web-2, web-3 and web-4 (and 2 more) of the 20 replicas"
        );
        assert_eq!(
            low.describe(&replicas),
            "only web-0 and web-1 of the 7 replicas"
        );
        let one = set(&labels, 1);
        assert_eq!(Selection::All.describe(&one), "the one replica");
        assert_eq!(Selection::None.describe(&one), "no replica");
        // No replica at all: every selector selects all of none.
        let none = set(&labels, 0);
        assert_eq!(
            select(json!({"matchLabels": {"app": "db"}}), &none),
            Selection::All
        );
    }

    #[test]
    fn ordinals_are_sorted_once_each() {
        assert_eq!(
            sorted(vec![5, 1, 4, 1, 9, 2, 6, 5, 3, 5]),
            vec![1, 2, 3, 4, 5, 6, 9]
        );
        assert_eq!(sorted(vec![]), Vec::<i64>::new());
        assert_eq!(sorted(vec![7]), vec![7]);
        let descending: Vec<i64> = (0..1000).rev().collect();
        assert_eq!(sorted(descending), (0..1000).collect::<Vec<i64>>());
    }

    #[test]
    fn a_service_map_selects_by_every_pair() {
        let labels = labels();
        let replicas = set(&labels, 2);
        let map = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            selected_by_map(&map(&[("app", "web")]), &replicas),
            Selection::All
        );
        assert_eq!(
            selected_by_map(
                &map(&[("app", "web"), (POD_NAME_LABEL, "web-1")]),
                &replicas
            ),
            Selection::Only(vec![1])
        );
        assert_eq!(
            selected_by_map(&map(&[("app", "db")]), &replicas),
            Selection::None
        );
    }
}
