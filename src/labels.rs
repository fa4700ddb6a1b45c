//! Kubernetes label selectors (`metav1.LabelSelector`) and how they match a
//! set of labels, as the API machinery matches them:
//!
//! - `metav1.LabelSelectorAsSelector` (apimachinery `pkg/apis/meta/v1/helpers.go`):
//!   a `null` selector matches nothing, an empty one (`{}`) everything;
//!   `matchLabels` and `matchExpressions` are ANDed; an operator other than
//!   In, NotIn, Exists, DoesNotExist makes the selector invalid;
//! - `labels.NewRequirement` (`pkg/labels/selector.go`): In and NotIn need at
//!   least one value, Exists and DoesNotExist none; keys are qualified names
//!   and values label values, else the selector is invalid;
//! - `Requirement.Matches`: In needs the key present with a listed value;
//!   NotIn matches when the key is absent or its value is not listed; Exists
//!   and DoesNotExist test the key only.
//!
//! Callers hold an `Option<LabelSelector>`: `None` is the `null` selector.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

use crate::json::{null_as_default, objects};
use crate::names::{is_label_value, is_qualified_name};

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(deserialize_with = "null_as_default")]
    pub match_labels: Labels,
    #[serde(deserialize_with = "objects")]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Requirement {
    #[serde(deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(deserialize_with = "null_as_default")]
    pub operator: String,
    #[serde(deserialize_with = "null_as_default")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// `{}`: selects everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Why Kubernetes would refuse to turn this selector into a `labels.Selector`.
    pub fn invalid(&self) -> Option<String> {
        let pairs = self.match_labels.iter().map(|(k, v)| (k, "=", 1, Some(v)));
        for (key, operator, count, value) in pairs {
            if let Some(why) = invalid_requirement(key, operator, count, value.into_iter()) {
                return Some(why);
            }
        }
        self.match_expressions
            .iter()
            .find_map(|r| invalid_requirement(&r.key, &r.operator, r.values.len(), r.values.iter()))
    }

    /// Whether `labels` satisfy every requirement. Assumes a valid selector
    /// (see [`LabelSelector::invalid`]); an unknown operator matches nothing.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

fn invalid_requirement<'a>(
    key: &str,
    operator: &str,
    count: usize,
    mut values: impl Iterator<Item = &'a String>,
) -> Option<String> {
    if !is_qualified_name(key) {
        return Some(format!("{key:?} is not a valid label key"));
    }
    match operator {
        "=" | "In" | "NotIn" if count == 0 => {
            return Some(format!("{operator} on {key:?} needs at least one value"))
        }
        "=" | "In" | "NotIn" => {}
        "Exists" | "DoesNotExist" if count > 0 => {
            return Some(format!("{operator} on {key:?} takes no values"))
        }
        "Exists" | "DoesNotExist" => {}
        other => return Some(format!("{other:?} is not a label selector operator")),
    }
    values
        .find(|v| !is_label_value(v))
        .map(|v| format!("{v:?} is not a valid label value"))
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        let listed = || value.is_some_and(|v| self.values.contains(v));
        match self.operator.as_str() {
            "In" => listed(),
            "NotIn" => !listed(),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    }
}

/// Whether the selector (`None` for `null`) selects `labels`; `Err` names why
/// the selector is invalid, in which case Kubernetes matches nothing with it.
pub fn selects(selector: Option<&LabelSelector>, labels: &Labels) -> Result<bool, String> {
    match selector {
        None => Ok(false),
        Some(selector) => match selector.invalid() {
            Some(why) => Err(why),
            None => Ok(selector.matches(labels)),
        },
    }
}

/// Labels as `labels.Set.String()` writes them: `app=web,tier=db`.
pub fn format_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// The selector in the syntax of `labels.Selector.String()`, requirements in
/// the order written (Kubernetes sorts them by key; sorting here would cost
/// module size for nothing a reader needs): `app=web,tier in (db,cache),!legacy`;
/// `{}` is written `everything`.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("everything");
        }
        let mut separator = "";
        for (key, value) in &self.match_labels {
            write!(f, "{separator}{key}={value}")?;
            separator = ",";
        }
        for r in &self.match_expressions {
            let values = r.values.join(",");
            match r.operator.as_str() {
                "In" => write!(f, "{separator}{} in ({values})", r.key)?,
                "NotIn" => write!(f, "{separator}{} notin ({values})", r.key)?,
                "Exists" => write!(f, "{separator}{}", r.key)?,
                "DoesNotExist" => write!(f, "{separator}!{}", r.key)?,
                other => write!(f, "{separator}{} {other} ({values})", r.key)?,
            }
            separator = ",";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selector(value: serde_json::Value) -> LabelSelector {
        serde_json::from_value(value).expect("a selector")
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Vectors from Requirement.Matches in apimachinery pkg/labels/selector.go.
    #[test]
    fn each_operator_matches_as_kubernetes_does() {
        let pod = labels(&[("app", "web"), ("tier", "db")]);
        let cases = [
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "cache"}}), false),
            (json!({"matchLabels": {"zone": "a"}}), false),
            (json!({"matchLabels": {"app": "web", "tier": "db"}}), true),
            (
                json!({"matchLabels": {"app": "web", "tier": "cache"}}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["cache", "web"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["cache"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["cache"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
                false,
            ),
            // NotIn on an absent key matches.
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}),
                false,
            ),
            // matchLabels and matchExpressions are ANDed.
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}),
                false,
            ),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]}),
                true,
            ),
            // The empty selector matches everything, also with null members.
            (json!({}), true),
            (json!({"matchLabels": null, "matchExpressions": null}), true),
        ];
        for (value, expected) in cases {
            assert_eq!(
                selects(Some(&selector(value.clone())), &pod),
                Ok(expected),
                "{value}"
            );
        }
        // The null selector matches nothing, not even a pod without labels.
        assert_eq!(selects(None, &pod), Ok(false));
        assert_eq!(selects(None, &Labels::new()), Ok(false));
        assert_eq!(
            selects(Some(&selector(json!({}))), &Labels::new()),
            Ok(true)
        );
    }

    // NewRequirement's refusals (pkg/labels/selector.go) and the operator
    // switch of LabelSelectorAsSelector: such a selector selects nothing.
    #[test]
    fn invalid_selectors_are_named() {
        let pod = labels(&[("app", "web")]);
        for (value, fragment) in [
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In"}]}),
                "needs at least one value",
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": []}]}),
                "needs at least one value",
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["web"]}]}),
                "takes no values",
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist", "values": ["x"]}]}),
                "takes no values",
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}),
                "not a label selector operator",
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "in", "values": ["web"]}]}),
                "not a label selector operator",
            ),
            (
                json!({"matchExpressions": [{"key": "-app", "operator": "Exists"}]}),
                "not a valid label key",
            ),
            (
                json!({"matchLabels": {"app": "web server"}}),
                "not a valid label value",
            ),
        ] {
            let result = selects(Some(&selector(value.clone())), &pod);
            assert!(
                result.as_ref().is_err_and(|why| why.contains(fragment)),
                "{value}: {result:?}"
            );
        }
    }

    #[test]
    fn selectors_are_written_in_kubernetes_syntax() {
        let s = selector(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["db", "cache"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["a"]},
                {"key": "canary", "operator": "Exists"}
            ]
        }));
        assert_eq!(
            s.to_string(),
            "app=web,tier in (db,cache),!legacy,zone notin (a),canary"
        );
        assert_eq!(selector(json!({})).to_string(), "everything");
        assert_eq!(
            format_labels(&labels(&[("tier", "db"), ("app", "web")])),
            "app=web,tier=db"
        );
    }
}
