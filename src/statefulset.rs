//! The part of a StatefulSet that the checks read.
//!
//! Decoding the whole object with k8s-openapi would cost about a megabyte of
//! module and most of the evaluation time, for fields the policy never reads.
//! These types name only what the checks need; everything else stays raw
//! JSON, untouched. Absent and `null` fields both read as `None`, as in the
//! Kubernetes API.

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// The beta annotation that, on a claim, wins over `spec.storageClassName`.
pub const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StatefulSet {
    #[serde(deserialize_with = "object")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "object")]
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
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatefulSetSpec {
    pub service_name: Option<String>,
    pub replicas: Option<i32>,
    pub pod_management_policy: Option<String>,
    #[serde(deserialize_with = "optional_object")]
    pub update_strategy: Option<UpdateStrategy>,
    #[serde(deserialize_with = "optional_object")]
    pub persistent_volume_claim_retention_policy: Option<RetentionPolicy>,
    #[serde(deserialize_with = "object")]
    pub template: PodTemplate,
    #[serde(deserialize_with = "objects")]
    pub volume_claim_templates: Vec<ClaimTemplate>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UpdateStrategy {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "optional_object")]
    pub rolling_update: Option<RollingUpdate>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityText(pub String);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a quantity (string or number)")]
        enum Text {
            String(String),
            Number(serde_json::Number),
        }
        Ok(QuantityText(match Text::deserialize(deserializer)? {
            Text::String(s) => s,
            Text::Number(n) => n.to_string(),
        }))
    }
}

/// `null` where Kubernetes allows it, for fields whose absence has a natural empty value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A JSON object, or `null` for none. Derived struct decoders would also read
/// a JSON array, positionally: a field of the wrong type must be refused, not misread.
struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

pub(crate) fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_any(ObjectVisitor(PhantomData))
}

/// An object field whose absence or `null` reads as its empty value.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(optional_object(deserializer)?.unwrap_or_default())
}

/// A whole object (the top level, a list item): `null` is refused too.
pub(crate) struct Whole<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        optional_object(deserializer)?.map(Whole).ok_or_else(|| {
            serde::de::Error::invalid_type(serde::de::Unexpected::Unit, &"an object")
        })
    }
}

/// A list of objects, `null` read as empty.
fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items: Option<Vec<Whole<T>>> = Option::deserialize(deserializer)?;
    Ok(items
        .unwrap_or_default()
        .into_iter()
        .map(|Whole(item)| item)
        .collect())
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

/// Why an object did not decode: the path of the field and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Decodes the fields the checks read from a JSON text, naming the field on error.
pub fn decode<'de, T: Deserialize<'de>>(json: &'de str) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de)
        .map(|Whole(object)| object)
        .map_err(|e| DecodeError {
            field: e.path().to_string(),
            reason: e.inner().to_string(),
        })
}

/// Same, from an already parsed value (the mutated object).
pub fn decode_value<'de, T: Deserialize<'de>>(
    value: &'de serde_json::Value,
) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value)
        .map(|Whole(object)| object)
        .map_err(|e| DecodeError {
            field: e.path().to_string(),
            reason: e.inner().to_string(),
        })
}
