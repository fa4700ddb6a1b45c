//! The platform's defaults, applied on CREATE.
//!
//! The object is edited as raw JSON (with key order preserved), so that the
//! mutated object differs from the request only at the defaulted paths: fields
//! unknown to this policy, key order and list order are untouched.
//!
//! The API server fills Kubernetes defaults before webhooks run, so a field that
//! holds the Kubernetes default may not have been chosen by anyone. It counts
//! as chosen only when the request shows it: the field is in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, or in a
//! managedFields entry whose operation is `Apply` (server-side apply). Clients
//! that leave neither sign (Helm 3, plain `kubectl create`) get the platform
//! default over an explicit Kubernetes-default value; the opt-out annotation
//! [`KEEP_DEFAULTS_ANNOTATION`] keeps the object as Kubernetes defaulted it.

use serde_json::{Map, Value};

use crate::settings::{Defaults, PodManagementPolicy, RetentionAction, UpdateStrategyType};
use crate::statefulset::{StatefulSet, BETA_STORAGE_CLASS_ANNOTATION};

/// Set to `"true"` on a StatefulSet to receive no platform defaults at all.
pub const KEEP_DEFAULTS_ANNOTATION: &str =
    "statefulset-policy.kubewarden.io/keep-kubernetes-defaults";

const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether the object opted out of the platform defaults.
pub fn opted_out(annotations: &std::collections::BTreeMap<String, String>) -> bool {
    annotations
        .get(KEEP_DEFAULTS_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Applies `defaults` to `object`; returns whether anything changed.
pub fn apply(object: &mut Value, defaults: &Defaults) -> bool {
    let choices = Choices::read(object);
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut changed = false;

    if let Some(policy) = defaults.pod_management_policy {
        changed |= set_unless_chosen(
            spec,
            "podManagementPolicy",
            policy.as_str(),
            PodManagementPolicy::OrderedReady.as_str(),
            &choices,
            &["spec", "podManagementPolicy"],
        );
    }
    if let Some(partition) = defaults.partition {
        changed |= default_partition(spec, partition, &choices);
    }
    if let Some(class) = &defaults.storage_class_name {
        changed |= default_storage_class(spec, class);
    }
    // The retention policy governs the claims' PVCs: a set without claims has none.
    let has_claims = spec
        .get("volumeClaimTemplates")
        .and_then(Value::as_array)
        .is_some_and(|claims| !claims.is_empty());
    if let (Some(retention), true) = (
        &defaults.persistent_volume_claim_retention_policy,
        has_claims,
    ) {
        let key = "persistentVolumeClaimRetentionPolicy";
        let existing = spec.get_mut(key).filter(|p| !p.is_null());
        let created = existing.is_none();
        let mut fresh = Map::new();
        let policy = match existing {
            Some(Value::Object(policy)) => Some(policy),
            Some(_) => None,
            None => Some(&mut fresh),
        };
        if let Some(policy) = policy {
            for (field, action) in [
                ("whenDeleted", retention.when_deleted),
                ("whenScaled", retention.when_scaled),
            ] {
                if let Some(action) = action {
                    changed |= set_unless_chosen(
                        policy,
                        field,
                        action.as_str(),
                        RetentionAction::Retain.as_str(),
                        &choices,
                        &["spec", key, field],
                    );
                }
            }
        }
        if created && !fresh.is_empty() {
            spec.insert(key.to_string(), Value::Object(fresh));
        }
    }
    changed
}

/// Whether [`apply`] could change the object `sts` was decoded from: `false`
/// only when it surely would not, so that the flow can skip reading the whole
/// object as JSON. It follows `apply` rule by rule on the decoded view, which
/// holds the same values (a field of another type does not decode); where the
/// object's signs of choice would decide, it answers `true`.
pub fn may_change(sts: &StatefulSet, defaults: &Defaults) -> bool {
    let spec = &sts.spec;
    // Absent or null is set; the Kubernetes default is replaced unless chosen.
    let may_set = |current: Option<&str>, value: &str, kubernetes_default: &str| match current {
        None => true,
        Some(current) => current != value && current == kubernetes_default,
    };
    if let Some(policy) = defaults.pod_management_policy {
        if may_set(
            spec.pod_management_policy.as_deref(),
            policy.as_str(),
            PodManagementPolicy::OrderedReady.as_str(),
        ) {
            return true;
        }
    }
    if let Some(partition) = defaults.partition {
        let rolling_update = UpdateStrategyType::RollingUpdate.as_str();
        match &spec.update_strategy {
            None => return true,
            Some(strategy)
                if strategy.kind.as_deref().unwrap_or(rolling_update) == rolling_update =>
            {
                match strategy.rolling_update.as_ref().map(|r| r.partition) {
                    None | Some(None) => return true,
                    Some(Some(current)) if current == 0 && partition != 0 => return true,
                    Some(Some(_)) => {}
                }
            }
            Some(_) => {}
        }
    }
    if defaults.storage_class_name.is_some()
        && spec
            .volume_claim_templates
            .iter()
            .any(|claim| claim.storage_class().is_none())
    {
        return true;
    }
    if let (Some(retention), false) = (
        &defaults.persistent_volume_claim_retention_policy,
        spec.volume_claim_templates.is_empty(),
    ) {
        let policy = spec.persistent_volume_claim_retention_policy.as_ref();
        let wanted = [
            (
                retention.when_deleted,
                policy.and_then(|p| p.when_deleted.as_deref()),
            ),
            (
                retention.when_scaled,
                policy.and_then(|p| p.when_scaled.as_deref()),
            ),
        ];
        for (action, current) in wanted {
            let Some(action) = action else { continue };
            if may_set(current, action.as_str(), RetentionAction::Retain.as_str()) {
                return true;
            }
        }
    }
    false
}

/// Sets `map[key]` to `value` when it is absent, or holds the Kubernetes
/// default `kubernetes_default` that nobody chose.
fn set_unless_chosen(
    map: &mut Map<String, Value>,
    key: &str,
    value: &str,
    kubernetes_default: &str,
    choices: &Choices,
    path: &[&str],
) -> bool {
    let replace = match map.get(key) {
        None | Some(Value::Null) => true,
        Some(current) => current.as_str() == Some(kubernetes_default) && !choices.chose(path),
    };
    if replace && map.get(key).and_then(Value::as_str) != Some(value) {
        map.insert(key.to_string(), Value::String(value.to_string()));
        return true;
    }
    false
}

/// The partition only means something for RollingUpdate: under OnDelete nothing is added.
fn default_partition(spec: &mut Map<String, Value>, partition: i64, choices: &Choices) -> bool {
    let path = ["spec", "updateStrategy", "rollingUpdate", "partition"];
    let strategy = spec.get_mut("updateStrategy");
    let strategy = match strategy {
        None | Some(Value::Null) => {
            let mut strategy = Map::new();
            strategy.insert(
                "type".into(),
                UpdateStrategyType::RollingUpdate.as_str().into(),
            );
            strategy.insert(
                "rollingUpdate".into(),
                Value::Object(Map::from_iter([(
                    "partition".to_string(),
                    partition.into(),
                )])),
            );
            spec.insert("updateStrategy".into(), Value::Object(strategy));
            return true;
        }
        Some(Value::Object(strategy)) => strategy,
        Some(_) => return false,
    };
    let kind = strategy
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(UpdateStrategyType::RollingUpdate.as_str());
    if kind != UpdateStrategyType::RollingUpdate.as_str() {
        return false;
    }
    match strategy.get_mut("rollingUpdate") {
        None | Some(Value::Null) => {
            let rolling = Map::from_iter([("partition".to_string(), partition.into())]);
            strategy.insert("rollingUpdate".into(), Value::Object(rolling));
            true
        }
        Some(Value::Object(rolling)) => {
            let replace = match rolling.get("partition") {
                None | Some(Value::Null) => true,
                Some(current) => current.as_i64() == Some(0) && !choices.chose(&path),
            };
            if replace && rolling.get("partition").and_then(Value::as_i64) != Some(partition) {
                rolling.insert("partition".into(), partition.into());
                return true;
            }
            false
        }
        Some(_) => false,
    }
}

/// Claims that name no class (neither the field nor the beta annotation) get `class`.
fn default_storage_class(spec: &mut Map<String, Value>, class: &str) -> bool {
    let Some(claims) = spec
        .get_mut("volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let mut changed = false;
    for claim in claims.iter_mut().filter_map(Value::as_object_mut) {
        let annotated = claim
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
            .is_some_and(|v| !v.is_null());
        if annotated {
            continue;
        }
        let claim_spec = claim
            .entry("spec")
            .or_insert_with(|| Value::Object(Map::new()));
        if claim_spec.is_null() {
            *claim_spec = Value::Object(Map::new());
        }
        if let Some(claim_spec) = claim_spec.as_object_mut() {
            if claim_spec
                .get("storageClassName")
                .is_none_or(Value::is_null)
            {
                claim_spec.insert("storageClassName".into(), class.into());
                changed = true;
            }
        }
    }
    changed
}

/// The signs that the user chose a field's value.
struct Choices {
    last_applied: Option<Value>,
    applied_fields: Vec<Value>,
}

impl Choices {
    fn read(object: &Value) -> Choices {
        let metadata = object.get("metadata");
        let last_applied = metadata
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str(text).ok());
        let applied_fields = metadata
            .and_then(|m| m.get("managedFields"))
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e.get("operation").and_then(Value::as_str) == Some("Apply"))
                    .filter_map(|e| e.get("fieldsV1").cloned())
                    .collect()
            })
            .unwrap_or_default();
        Choices {
            last_applied,
            applied_fields,
        }
    }

    fn chose(&self, path: &[&str]) -> bool {
        let in_last_applied = self.last_applied.as_ref().is_some_and(|root| {
            path.iter()
                .try_fold(root, |node, key| node.get(*key))
                .is_some_and(|v| !v.is_null())
        });
        in_last_applied
            || self.applied_fields.iter().any(|fields| {
                path.iter()
                    .try_fold(fields, |node, key| node.get(format!("f:{key}")))
                    .is_some()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{apply, may_change};
    use crate::settings::Defaults;
    use crate::statefulset::{decode, StatefulSet};
    use serde_json::{json, Value};

    /// Objects that each default may or may not change, chosen or not.
    fn objects() -> Vec<Value> {
        let mut objects = Vec::new();
        let policies = [
            None,
            Some(json!(null)),
            Some(json!("OrderedReady")),
            Some(json!("Parallel")),
        ];
        let strategies = [
            None,
            Some(json!(null)),
            Some(json!({"type": "OnDelete"})),
            Some(json!({"type": "RollingUpdate"})),
            Some(json!({"type": null, "rollingUpdate": null})),
            Some(json!({"rollingUpdate": {"partition": 0}})),
            Some(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 3}})),
            Some(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": null}})),
        ];
        let claims = [
            None,
            Some(json!([])),
            Some(json!([{"metadata": {"name": "a"}, "spec": {"storageClassName": "fast"}}])),
            Some(json!([{"metadata": {"name": "a"}, "spec": {"storageClassName": null}}])),
            Some(json!([{"metadata": {"name": "a"}}])),
            Some(
                json!([{"metadata": {"name": "a", "annotations": {"volume.beta.kubernetes.io/storage-class": "x"}}, "spec": null}]),
            ),
        ];
        let retentions = [
            None,
            Some(json!(null)),
            Some(json!({"whenDeleted": "Retain", "whenScaled": "Retain"})),
            Some(json!({"whenDeleted": "Delete"})),
            Some(json!({"whenScaled": null})),
        ];
        let chosen = [
            None,
            Some(
                json!({"spec": {"podManagementPolicy": "OrderedReady", "updateStrategy": {"rollingUpdate": {"partition": 0}}, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}}),
            ),
        ];
        for policy in &policies {
            for strategy in &strategies {
                for claim in &claims {
                    for retention in &retentions {
                        for choice in &chosen {
                            let mut spec = serde_json::Map::new();
                            let fields = [
                                ("podManagementPolicy", policy),
                                ("updateStrategy", strategy),
                                ("volumeClaimTemplates", claim),
                                ("persistentVolumeClaimRetentionPolicy", retention),
                            ];
                            for (key, value) in fields {
                                if let Some(value) = value {
                                    spec.insert(key.into(), value.clone());
                                }
                            }
                            let mut object = json!({"metadata": {"name": "web"}, "spec": spec});
                            if let Some(choice) = choice {
                                object["metadata"]["annotations"] = json!({
                                    "kubectl.kubernetes.io/last-applied-configuration": choice.to_string()
                                });
                            }
                            objects.push(object);
                        }
                    }
                }
            }
        }
        objects.push(json!({"metadata": {"name": "web"}}));
        objects.push(json!({"metadata": {"name": "web"}, "spec": null}));
        objects
    }

    fn all_defaults() -> Vec<Defaults> {
        let texts = [
            json!({"podManagementPolicy": "Parallel"}),
            json!({"podManagementPolicy": "OrderedReady"}),
            json!({"partition": 0}),
            json!({"partition": 3}),
            json!({"storageClassName": "standard"}),
            json!({"persistentVolumeClaimRetentionPolicy": {}}),
            json!({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain"}}),
            json!({"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"}}),
            json!({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"}}),
        ];
        texts
            .iter()
            .map(|d| serde_json::from_value(d.clone()).expect("defaults"))
            .collect()
    }

    /// `may_change` may only answer `false` where `apply` changes nothing.
    #[test]
    fn may_change_is_false_only_when_apply_changes_nothing() {
        let mut skipped = 0;
        for object in objects() {
            let text = object.to_string();
            let sts: StatefulSet = decode(&text).expect("the object decodes");
            for defaults in all_defaults() {
                let mut mutated = object.clone();
                let changed = apply(&mut mutated, &defaults);
                if !may_change(&sts, &defaults) {
                    assert!(!changed, "{defaults:?} changed {text}");
                    skipped += 1;
                }
            }
        }
        assert!(skipped > 1000, "{skipped}");
    }
}
