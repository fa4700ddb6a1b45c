//! The platform's defaults, applied on CREATE.
//!
//! [`plan`] computes the edits once, from the typed view: it sets each
//! defaulted field in the view (which the checks then judge) and lists the
//! same change as a path and a value. Nothing changes when the list is empty;
//! otherwise [`crate::splice`] writes the list into the object's text, so the
//! mutated object differs from the request only at the defaulted paths:
//! fields unknown to this policy, key order and list order are untouched, and
//! the cost is that of the edits, not of the object's size.
//!
//! The API server fills Kubernetes defaults before webhooks run, so a field that
//! holds the Kubernetes default may not have been chosen by anyone. It counts
//! as chosen only when the request shows it: the field is in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, or in a
//! managedFields entry whose operation is `Apply` (server-side apply). Clients
//! that leave neither sign (Helm 3, plain `kubectl create`) get the platform
//! default over an explicit Kubernetes-default value; the opt-out annotation
//! [`KEEP_DEFAULTS_ANNOTATION`] keeps the object as Kubernetes defaulted it.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;

use crate::settings::{Defaults, PodManagementPolicy, RetentionAction, UpdateStrategyType};
use crate::splice::{self, Edit, KnownObject, SpliceError, Spliced, Step};
use crate::statefulset::{
    ObjectMeta, RetentionPolicy, RollingUpdate, StatefulSet, StatefulSetSpec, UpdateStrategy,
};

/// Set to `"true"` on a StatefulSet to receive no platform defaults at all.
pub const KEEP_DEFAULTS_ANNOTATION: &str =
    "statefulset-policy.kubewarden.io/keep-kubernetes-defaults";

const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

const SPEC: Step<'static> = Step::Key("spec");
const RETENTION_POLICY: &str = "persistentVolumeClaimRetentionPolicy";

/// Where the edits of [`plan`] change the object's `text`, from which `sts`
/// was decoded: every edit is inside `spec`, whose members the decoder
/// recorded, so only the edited members are read.
pub fn locate<'a>(
    text: &'a str,
    edits: &[Edit],
    sts: &StatefulSet,
) -> Result<Spliced<'a>, SpliceError> {
    let known = KnownObject {
        path: &[SPEC],
        members: &sts.spec.members,
    };
    splice::locate(text, edits, Some(known))
}

/// Whether the object opted out of the platform defaults.
pub fn opted_out(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(KEEP_DEFAULTS_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Applies `defaults` to the view `sts` and returns the same changes as
/// edits of the object's text, in the order they were made; empty when
/// nothing changes. Defaults write only inside an existing `spec` object.
pub fn plan(sts: &mut StatefulSet, defaults: &Defaults) -> Vec<Edit> {
    let mut edits = Vec::new();
    if !sts.spec.decoded {
        return edits;
    }
    let choices = Choices::new(&sts.metadata);
    let spec = &mut sts.spec;

    if let Some(policy) = defaults.pod_management_policy {
        if set_unless_chosen(
            &mut spec.pod_management_policy,
            policy.as_str(),
            PodManagementPolicy::OrderedReady.as_str(),
            &choices,
            &["spec", "podManagementPolicy"],
        ) {
            edits.push(Edit::new(
                vec![SPEC, Step::Key("podManagementPolicy")],
                policy.as_str(),
            ));
        }
    }
    // validate_settings refuses a partition outside the i32 range of the field.
    if let Some(Ok(partition)) = defaults.partition.map(i32::try_from) {
        edits.extend(default_partition(spec, partition, &choices));
    }
    if let Some(class) = &defaults.storage_class_name {
        edits.extend(default_storage_class(spec, class));
    }
    // The retention policy governs the claims' PVCs: a set without claims has none.
    if let (Some(retention), false) = (
        &defaults.persistent_volume_claim_retention_policy,
        spec.volume_claim_templates.is_empty(),
    ) {
        let wanted = [
            ("whenDeleted", retention.when_deleted),
            ("whenScaled", retention.when_scaled),
        ];
        match &mut spec.persistent_volume_claim_retention_policy {
            // Absent or null: one new object holding every configured field.
            None => {
                let mut created = RetentionPolicy::default();
                let mut fields = Map::new();
                for (field, action) in wanted {
                    if let Some(action) = action {
                        *retention_field(&mut created, field) = Some(action.as_str().into());
                        fields.insert(field.into(), action.as_str().into());
                    }
                }
                if !fields.is_empty() {
                    spec.persistent_volume_claim_retention_policy = Some(created);
                    edits.push(Edit::new(
                        vec![SPEC, Step::Key(RETENTION_POLICY)],
                        Value::Object(fields),
                    ));
                }
            }
            Some(policy) => {
                for (field, action) in wanted {
                    let Some(action) = action else { continue };
                    if set_unless_chosen(
                        retention_field(policy, field),
                        action.as_str(),
                        RetentionAction::Retain.as_str(),
                        &choices,
                        &["spec", RETENTION_POLICY, field],
                    ) {
                        edits.push(Edit::new(
                            vec![SPEC, Step::Key(RETENTION_POLICY), Step::Key(field)],
                            action.as_str(),
                        ));
                    }
                }
            }
        }
    }
    edits
}

fn retention_field<'a>(policy: &'a mut RetentionPolicy, field: &str) -> &'a mut Option<String> {
    if field == "whenDeleted" {
        &mut policy.when_deleted
    } else {
        &mut policy.when_scaled
    }
}

/// Sets `current` to `value` when it is absent (or null), or holds the
/// Kubernetes default `kubernetes_default` that nobody chose; returns whether
/// it changed.
fn set_unless_chosen(
    current: &mut Option<String>,
    value: &str,
    kubernetes_default: &str,
    choices: &Choices,
    path: &[&str],
) -> bool {
    let replace = match current.as_deref() {
        None => true,
        Some(now) => now != value && now == kubernetes_default && !choices.chose(path),
    };
    if replace {
        *current = Some(value.to_string());
    }
    replace
}

/// The partition only means something for RollingUpdate: under OnDelete nothing is added.
fn default_partition(
    spec: &mut StatefulSetSpec,
    partition: i32,
    choices: &Choices,
) -> Option<Edit> {
    let rolling_update = UpdateStrategyType::RollingUpdate.as_str();
    let strategy_path = || vec![SPEC, Step::Key("updateStrategy")];
    let Some(strategy) = &mut spec.update_strategy else {
        spec.update_strategy = Some(UpdateStrategy {
            kind: Some(rolling_update.into()),
            rolling_update: Some(RollingUpdate {
                partition: Some(partition),
            }),
        });
        let value = json!({"type": rolling_update, "rollingUpdate": {"partition": partition}});
        return Some(Edit::new(strategy_path(), value));
    };
    if strategy.kind.as_deref().unwrap_or(rolling_update) != rolling_update {
        return None;
    }
    let mut path = strategy_path();
    path.push(Step::Key("rollingUpdate"));
    let Some(rolling) = &mut strategy.rolling_update else {
        strategy.rolling_update = Some(RollingUpdate {
            partition: Some(partition),
        });
        return Some(Edit::new(path, json!({"partition": partition})));
    };
    let replace = match rolling.partition {
        None => true,
        Some(now) => {
            now != partition
                && now == 0
                && !choices.chose(&["spec", "updateStrategy", "rollingUpdate", "partition"])
        }
    };
    if !replace {
        return None;
    }
    rolling.partition = Some(partition);
    path.push(Step::Key("partition"));
    Some(Edit::new(path, partition))
}

/// Claims that name no class (neither the field nor the beta annotation) get `class`.
fn default_storage_class(spec: &mut StatefulSetSpec, class: &str) -> Vec<Edit> {
    let mut edits = Vec::new();
    for (i, claim) in spec.volume_claim_templates.iter_mut().enumerate() {
        if claim.storage_class().is_some() {
            continue;
        }
        claim.spec.storage_class_name = Some(class.to_string());
        let claim_spec = vec![
            SPEC,
            Step::Key("volumeClaimTemplates"),
            Step::Index(i),
            Step::Key("spec"),
        ];
        edits.push(if claim.spec.decoded {
            let mut path = claim_spec;
            path.push(Step::Key("storageClassName"));
            Edit::new(path, class)
        } else {
            // No claim spec (or null): one is created to hold the class.
            claim.spec.decoded = true;
            Edit::new(claim_spec, json!({"storageClassName": class}))
        });
    }
    edits
}

/// The signs that the user chose a field's value, read from the object's
/// text only when a rule asks, and without parsing more than they need.
struct Choices<'a> {
    metadata: &'a ObjectMeta,
    applied_fields: OnceCell<Vec<&'a RawValue>>,
}

/// What a managedFields entry tells about choices.
#[derive(Deserialize)]
struct ManagedFieldsEntry<'a> {
    operation: Option<Cow<'a, str>>,
    #[serde(rename = "fieldsV1", borrow)]
    fields_v1: Option<&'a RawValue>,
}

impl<'a> Choices<'a> {
    fn new(metadata: &'a ObjectMeta) -> Choices<'a> {
        Choices {
            metadata,
            applied_fields: OnceCell::new(),
        }
    }

    /// The `fieldsV1` sets of the managedFields entries whose operation is
    /// `Apply` (server-side apply). Entries of another shape say nothing.
    fn applied_fields(&self) -> &[&'a RawValue] {
        self.applied_fields.get_or_init(|| {
            let Some(raw) = &self.metadata.managed_fields else {
                return Vec::new();
            };
            let entries: Vec<&RawValue> = serde_json::from_str(raw.get()).unwrap_or_default();
            entries
                .into_iter()
                .filter_map(|entry| serde_json::from_str::<ManagedFieldsEntry>(entry.get()).ok())
                .filter(|entry| entry.operation.as_deref() == Some("Apply"))
                .filter_map(|entry| entry.fields_v1)
                .collect()
        })
    }

    fn chose(&self, path: &[&str]) -> bool {
        let steps: Vec<Step> = path.iter().map(|key| Step::Key(key)).collect();
        let last_applied = self.metadata.annotations.get(LAST_APPLIED_ANNOTATION);
        let in_last_applied = last_applied.is_some_and(|text| {
            splice::find(text, &steps).is_some_and(|value| &text[value] != "null")
        });
        if in_last_applied {
            return true;
        }
        let field_keys: Vec<String> = path.iter().map(|key| format!("f:{key}")).collect();
        let field_steps: Vec<Step> = field_keys.iter().map(|key| Step::Key(key)).collect();
        self.applied_fields()
            .iter()
            .any(|fields| splice::find(fields.get(), &field_steps).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::{locate, plan};
    use crate::json::decode;
    use crate::settings::Defaults;
    use crate::splice;
    use crate::statefulset::StatefulSet;
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

    /// The plan changes the view exactly as the spliced text reads, and a
    /// second plan on the mutated object finds nothing left to do.
    #[test]
    fn the_planned_view_is_the_view_of_the_spliced_object() {
        let mut changed = 0;
        for object in objects() {
            let text = object.to_string();
            for defaults in all_defaults() {
                let mut sts: StatefulSet = decode(&text).expect("the object decodes");
                let edits = plan(&mut sts, &defaults);
                if edits.is_empty() {
                    continue;
                }
                changed += 1;
                let mutated = locate(&text, &edits, &sts)
                    .expect("the edits apply")
                    .to_string();
                // Reading the spec's members where the decoder saw them gives
                // what one pass over the whole text gives.
                let walked = splice::apply(&text, &edits).expect("the edits apply");
                assert_eq!(mutated, walked, "{defaults:?} on {text}");
                let mut reread: StatefulSet = decode(&mutated).expect("the mutated object decodes");
                // Where the members are differs from text to text.
                sts.spec.members = Default::default();
                let indexed = std::mem::take(&mut reread.spec.members);
                assert_eq!(
                    format!("{:?}", reread.spec),
                    format!("{:?}", sts.spec),
                    "{defaults:?} on {text}"
                );
                reread.spec.members = indexed;
                assert_eq!(
                    plan(&mut reread, &defaults),
                    Vec::new(),
                    "{defaults:?} on {mutated}"
                );
                let before: Value = serde_json::from_str(&text).unwrap();
                let after: Value = serde_json::from_str(&mutated).unwrap();
                assert_eq!(before["metadata"], after["metadata"], "{mutated}");
            }
        }
        assert!(changed > 1000, "{changed}");
    }
}
