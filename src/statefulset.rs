//! The part of a StatefulSet that the checks read.
//!
//! Decoding the whole object with k8s-openapi would cost about a megabyte of
//! module and most of the evaluation time, for fields the policy never reads.
//! These types name only what the checks need; everything else stays raw
//! JSON, untouched. Absent and `null` fields both read as `None`, as in the
//! Kubernetes API.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

use crate::json::{
    self, indexed_object, null_as_default, object, objects, optional_object, DecodeError, Indexed,
    MemberIndex,
};
use crate::labels::LabelSelector;
use crate::quantity::Quantity;
use crate::violation::quote;

/// The beta annotation that, on a claim, wins over `spec.storageClassName`.
pub const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StatefulSet {
    #[serde(deserialize_with = "object")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "indexed_object")]
    pub spec: StatefulSetSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    pub deletion_timestamp: Option<String>,
    /// Kept raw: only the defaults read it, and only to learn whether the user
    /// chose a value (see `defaults`). Not type-checked, as before it is read.
    pub managed_fields: Option<Box<RawValue>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatefulSetSpec {
    pub service_name: Option<String>,
    pub replicas: Option<i32>,
    #[serde(deserialize_with = "optional_object")]
    pub ordinals: Option<Ordinals>,
    pub pod_management_policy: Option<String>,
    #[serde(deserialize_with = "optional_object")]
    pub update_strategy: Option<UpdateStrategy>,
    #[serde(deserialize_with = "optional_object")]
    pub persistent_volume_claim_retention_policy: Option<RetentionPolicy>,
    #[serde(deserialize_with = "object")]
    pub template: PodTemplate,
    #[serde(deserialize_with = "objects")]
    pub volume_claim_templates: Vec<ClaimTemplate>,
    /// Read from a JSON object (not absent, not `null`): the defaults edit
    /// only inside an existing spec.
    #[serde(skip_deserializing, default = "read_from_an_object")]
    pub decoded: bool,
    /// Where the spec's members are in the object's text: the defaults'
    /// edits go straight to them (see `splice::locate`).
    #[serde(skip)]
    pub members: MemberIndex,
}

impl Indexed for StatefulSetSpec {
    fn set_members(&mut self, members: MemberIndex) {
        self.members = members;
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UpdateStrategy {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "optional_object")]
    pub rolling_update: Option<RollingUpdate>,
}

/// `spec.ordinals`: the first replica's ordinal.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Ordinals {
    pub start: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RollingUpdate {
    pub partition: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RetentionPolicy {
    pub when_deleted: Option<String>,
    pub when_scaled: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PodTemplate {
    #[serde(deserialize_with = "object")]
    pub metadata: TemplateMeta,
    #[serde(deserialize_with = "object")]
    pub spec: PodSpec,
}

/// What the volume and spreading checks read of the pod template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(deserialize_with = "objects")]
    pub containers: Vec<Container>,
    #[serde(deserialize_with = "objects")]
    pub init_containers: Vec<Container>,
    #[serde(deserialize_with = "objects")]
    pub volumes: Vec<Volume>,
    #[serde(deserialize_with = "optional_object")]
    pub affinity: Option<Affinity>,
    #[serde(deserialize_with = "objects")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Container {
    pub name: Option<String>,
    #[serde(deserialize_with = "objects")]
    pub volume_mounts: Vec<Named>,
    /// Block-mode volumes are consumed as raw devices, not mounted.
    #[serde(deserialize_with = "objects")]
    pub volume_devices: Vec<Named>,
}

/// A volume mount or volume device: only its name is read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Named {
    pub name: Option<String>,
}

/// A pod volume: its name, and whether it is a claim (the only sources a
/// `volumeDevices` entry may name).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Volume {
    pub name: Option<String>,
    /// Only their presence matters: their contents are skipped.
    pub persistent_volume_claim: Option<serde::de::IgnoredAny>,
    pub ephemeral: Option<serde::de::IgnoredAny>,
}

impl Volume {
    /// A PersistentVolumeClaim or generic ephemeral volume: what
    /// `ValidateVolumeDevices` (pkg/apis/core/validation) lets a device name.
    pub fn is_claim(&self) -> bool {
        self.persistent_volume_claim.is_some() || self.ephemeral.is_some()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Affinity {
    #[serde(deserialize_with = "optional_object")]
    pub pod_anti_affinity: Option<PodAntiAffinity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodAntiAffinity {
    #[serde(deserialize_with = "objects")]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    #[serde(deserialize_with = "objects")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    #[serde(deserialize_with = "object")]
    pub pod_affinity_term: PodAffinityTerm,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodAffinityTerm {
    /// `None` is the `null` selector, which selects no pod.
    #[serde(deserialize_with = "optional_object")]
    pub label_selector: Option<LabelSelector>,
    #[serde(deserialize_with = "null_as_default")]
    pub namespaces: Vec<String>,
    #[serde(deserialize_with = "optional_object")]
    pub namespace_selector: Option<LabelSelector>,
    pub topology_key: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub match_label_keys: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub mismatch_label_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    pub topology_key: Option<String>,
    pub max_skew: Option<i32>,
    pub when_unsatisfiable: Option<String>,
    #[serde(deserialize_with = "optional_object")]
    pub label_selector: Option<LabelSelector>,
    #[serde(deserialize_with = "null_as_default")]
    pub match_label_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TemplateMeta {
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClaimTemplate {
    #[serde(deserialize_with = "object")]
    pub metadata: ClaimMeta,
    #[serde(deserialize_with = "object")]
    pub spec: ClaimSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClaimMeta {
    pub name: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClaimSpec {
    pub storage_class_name: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub access_modes: Vec<String>,
    pub volume_mode: Option<String>,
    #[serde(deserialize_with = "object")]
    pub resources: ClaimResources,
    /// Read from a JSON object (not absent, not `null`).
    #[serde(skip_deserializing, default = "read_from_an_object")]
    pub decoded: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClaimResources {
    #[serde(deserialize_with = "null_as_default")]
    pub requests: BTreeMap<String, QuantityText>,
}

/// A quantity as written in the object: Kubernetes accepts a JSON string or number.
/// It is parsed by the check that compares it, so that a malformed value is a
/// violation with a message, not a decoding failure.
///
/// It holds the JSON text of the value (a string with its quotes, escape
/// sequences undecoded), because that is what Kubernetes' `Quantity.UnmarshalJSON`
/// reads: [`Quantity::from_json`] takes it as is; [`QuantityText::written`] is
/// the text for messages.
///
/// A number keeps its exact text (`1.0000000000000001` is not `1`), and is
/// refused unless a JSON parser that reads numbers as doubles keeps its value:
/// policy-server parses the request (and the mutated object it diffs) into
/// doubles, so the policy and the host must see the same quantity. A refused
/// value (such a number, or neither a string nor a number) keeps why in the
/// second field, and [`decode`] refuses the StatefulSet naming the field: a
/// refusal raised while decoding would be located by serde_json only after
/// the enclosing map (see `json::path_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityText(pub String, pub Option<String>);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        const EXPECTED: &str = "a quantity (string or number)";
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if text.starts_with('"') {
            return Ok(QuantityText(text.to_owned(), None));
        }
        let unexpected = match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => {
                let held = serde_json::from_str::<serde_json::Number>(text)
                    .ok()
                    .map(|n| n.to_string());
                let exact = held.as_deref().and_then(|h| Quantity::parse(h).ok());
                let refusal = match (Quantity::parse(text).ok(), exact) {
                    (Some(value), Some(held)) if value == held => None,
                    _ => Some(format!(
                        "the JSON number {} is not held exactly by a JSON parser; write the quantity as a string",
                        quote(text)
                    )),
                };
                return Ok(QuantityText(text.into(), refusal));
            }
            Some(b't' | b'f') => Unexpected::Bool(text == "true"),
            Some(b'n') => Unexpected::Unit,
            Some(b'[') => Unexpected::Seq,
            _ => Unexpected::Map,
        };
        let refusal = serde_json::Error::invalid_type(unexpected, &EXPECTED).to_string();
        Ok(QuantityText(text.into(), Some(refusal)))
    }
}

impl QuantityText {
    /// The quantity as written: a string's text between its quotes, or a number.
    pub fn written(&self) -> &str {
        let raw = self.0.as_str();
        match raw.as_bytes() {
            [b'"', .., b'"'] => raw.get(1..raw.len() - 1).unwrap_or(raw),
            _ => raw,
        }
    }
}

/// Decodes a StatefulSet (see `json::decode`), refusing it, with the field,
/// when a claim requests a quantity [`QuantityText`] refuses.
pub fn decode(text: &str) -> Result<StatefulSet, DecodeError> {
    let sts: StatefulSet = json::decode(text)?;
    match refused_quantity(&sts) {
        Some(refusal) => Err(refusal),
        None => Ok(sts),
    }
}

/// The first claim quantity [`QuantityText`] refused, with its field.
pub fn refused_quantity(sts: &StatefulSet) -> Option<DecodeError> {
    for (i, claim) in sts.spec.volume_claim_templates.iter().enumerate() {
        for (key, QuantityText(_, refusal)) in &claim.spec.resources.requests {
            if let Some(reason) = refusal {
                return Some(DecodeError {
                    field: format!("spec.volumeClaimTemplates[{i}].spec.resources.requests.{key}"),
                    reason: reason.clone(),
                });
            }
        }
    }
    None
}

/// The value of a `decoded` flag: serde gives skipped fields their default
/// only when it reads the struct from a map, and `Default` gives `false`.
fn read_from_an_object() -> bool {
    true
}

impl ClaimTemplate {
    /// The claim's storage class as Kubernetes resolves it: the beta annotation
    /// wins over the field. `None` means the cluster's default class; `Some("")`
    /// means no dynamic provisioning.
    pub fn storage_class(&self) -> Option<&str> {
        self.metadata
            .annotations
            .get(BETA_STORAGE_CLASS_ANNOTATION)
            .or(self.spec.storage_class_name.as_ref())
            .map(String::as_str)
    }

    /// The path of the field that holds the class, for messages.
    pub fn storage_class_field(&self) -> &'static str {
        if self
            .metadata
            .annotations
            .contains_key(BETA_STORAGE_CLASS_ANNOTATION)
        {
            "metadata.annotations[\"volume.beta.kubernetes.io/storage-class\"]"
        } else {
            "spec.storageClassName"
        }
    }
}

impl StatefulSetSpec {
    /// The update strategy type, with the Kubernetes default.
    pub fn update_strategy_type(&self) -> &str {
        self.update_strategy
            .as_ref()
            .and_then(|s| s.kind.as_deref())
            .unwrap_or("RollingUpdate")
    }

    /// The rolling-update partition, absent when none is set.
    pub fn partition(&self) -> Option<i32> {
        self.update_strategy
            .as_ref()?
            .rolling_update
            .as_ref()?
            .partition
    }

    /// The first ordinal, `spec.ordinals.start`, with the Kubernetes default of 0.
    pub fn ordinals_start(&self) -> i32 {
        self.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0)
    }

    /// Replicas with the Kubernetes default of 1.
    pub fn replicas_or_default(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

/// A readable prefix for a claim's fields: `spec.volumeClaimTemplates[1] (wal)`.
pub fn claim_path(index: usize, claim: &ClaimTemplate) -> String {
    match &claim.metadata.name {
        Some(name) => format!("spec.volumeClaimTemplates[{index}] ({name})"),
        None => format!("spec.volumeClaimTemplates[{index}]"),
    }
}
