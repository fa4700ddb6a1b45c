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

use crate::quantity::Quantity;

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
///
/// It holds the JSON text of the value (a string with its quotes, escape
/// sequences undecoded), because that is what Kubernetes' `Quantity.UnmarshalJSON`
/// reads: [`Quantity::from_json`] takes it as is; [`QuantityText::written`] is
/// the text for messages.
///
/// A number keeps its exact text (`1.0000000000000001` is not `1`), and is
/// refused unless a JSON parser that reads numbers as doubles keeps its value:
/// the defaulted object is judged from such a parse, and policy-server diffs
/// it from one, so both views must see the same quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityText(pub String);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        const EXPECTED: &str = "a quantity (string or number)";
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if text.starts_with('"') {
            return Ok(QuantityText(text.to_owned()));
        }
        let unexpected = match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => {
                let held = serde_json::from_str::<serde_json::Number>(text)
                    .ok()
                    .map(|n| n.to_string());
                let exact = held.as_deref().and_then(|h| Quantity::parse(h).ok());
                return match (Quantity::parse(text).ok(), exact) {
                    (Some(value), Some(held)) if value == held => Ok(QuantityText(text.into())),
                    _ => Err(D::Error::custom(format!(
                        "the JSON number {} is not held exactly by a JSON parser; write the quantity as a string",
                        crate::checks::quote(text)
                    ))),
                };
            }
            Some(b't' | b'f') => Unexpected::Bool(text == "true"),
            Some(b'n') => Unexpected::Unit,
            Some(b'[') => Unexpected::Seq,
            _ => Unexpected::Map,
        };
        Err(D::Error::invalid_type(unexpected, &EXPECTED))
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
///
/// A text with a duplicate key in any object is refused: parsers disagree on
/// which value counts (serde keeps the last scalar, Go's encoding/json merges
/// duplicate objects), so the policy would risk judging another value than the
/// one Kubernetes stores. The API server never sends one: it re-encodes objects.
pub fn decode<'de, T: Deserialize<'de>>(json: &'de str) -> Result<T, DecodeError> {
    unique_keys(json)?;
    decode_unique_keys(json)
}

/// [`decode`] for a text already known to hold no key twice (a part of a
/// payload that `scan::plainly_unique` accepted).
pub fn decode_unique_keys<'de, T: Deserialize<'de>>(json: &'de str) -> Result<T, DecodeError> {
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

/// Refuses a JSON text in which some object holds a key twice, naming where.
fn unique_keys(json: &str) -> Result<(), DecodeError> {
    // Nearly every text is plain JSON without duplicates: a byte scan says so
    // without building anything. Whatever it is not sure about (a duplicate,
    // an escaped key, a number that might not parse, a syntax error) goes to
    // the exact walk below, which words the refusal.
    if crate::scan::plainly_unique(json.as_bytes()) {
        return Ok(());
    }
    walk_unique_keys(json)
}

/// The exact check: serde_json reads every value, so its errors name their place.
fn walk_unique_keys(json: &str) -> Result<(), DecodeError> {
    let found = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(json);
    let walk = UniqueKeys {
        at: &Place::Root,
        found: &found,
    };
    match serde::de::DeserializeSeed::deserialize(walk, &mut de) {
        Ok(()) => Ok(()),
        Err(e) => Err(found.into_inner().unwrap_or_else(|| DecodeError {
            field: ".".into(),
            reason: e.to_string(),
        })),
    }
}

/// Where a value sits, built only when a duplicate is reported.
enum Place<'a> {
    Root,
    Key(&'a Place<'a>, &'a str),
    Index(&'a Place<'a>, usize),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Root => f.write_str("."),
            Place::Key(Place::Root, key) => f.write_str(key),
            Place::Key(parent, key) => write!(f, "{parent}.{key}"),
            Place::Index(Place::Root, i) => write!(f, "[{i}]"),
            Place::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

struct UniqueKeys<'a> {
    at: &'a Place<'a>,
    found: &'a std::cell::RefCell<Option<DecodeError>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl UniqueKeys<'_> {
    /// Names the innermost place of an error (a number out of range, say).
    fn report<E: std::fmt::Display>(&self, at: &Place, error: E) -> E {
        let mut found = self.found.borrow_mut();
        if found.is_none() {
            *found = Some(DecodeError {
                field: at.to_string(),
                reason: error.to_string(),
            });
        }
        error
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let at = Place::Index(self.at, i);
            let item = UniqueKeys {
                at: &at,
                found: self.found,
            };
            match seq.next_element_seed(item) {
                Ok(Some(())) => i += 1,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.report(&at, e)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if seen.contains(&key) {
                let error = DecodeError {
                    field: self.at.to_string(),
                    reason: format!(
                        "duplicate key {}: each key may appear once in an object",
                        crate::checks::quote(&key)
                    ),
                };
                let message = error.to_string();
                *self.found.borrow_mut() = Some(error);
                return Err(serde::de::Error::custom(message));
            }
            let at = Place::Key(self.at, &key);
            let value = UniqueKeys {
                at: &at,
                found: self.found,
            };
            if let Err(e) = map.next_value_seed(value) {
                return Err(self.report(&at, e));
            }
            seen.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::walk_unique_keys;
    use crate::scan::plainly_unique;

    /// The scan may only accept what the exact walk accepts.
    fn agrees(text: &str) -> bool {
        let fast = plainly_unique(text.as_bytes());
        assert!(
            !fast || walk_unique_keys(text).is_ok(),
            "the scan accepted what the walk refuses: {text}"
        );
        fast
    }

    #[test]
    fn plain_texts_are_accepted_by_the_scan() {
        for text in [
            r#"{"a":1,"b":[true,false,null,{"c":"d"}],"e":{},"f":[]}"#,
            r#" { "a" : -0.5 , "b" : [ 1 , 2 ] , "c" : "x\"y\n\u00e9\/" } "#,
            r#"{"a":{"b":{"a":1}},"b":{"a":2}}"#,
            r#""top""#,
            "12",
            r#"{"a":1} trailing, as serde_json's walk ignores it"#,
            r#"{"é":"ü","e":"\u0301"}"#,
            r#"{"k:{\"name\":\"a\"}":{},"k:{\"name\":\"b\"}":{},"a\tb":1,"a\/":2,"a\\/":3}"#,
        ] {
            assert!(agrees(text), "{text}");
        }
        let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(agrees(&format!("{{{}}}", many.join(","))));
    }

    #[test]
    fn the_scan_leaves_doubts_to_the_walk() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"a":1,"b":2,"a":3}}"#,
            r#"{"a\u0062":1,"ab":2}"#,
            r#"{"a\u0062":1}"#,
            r#"{"k:{\"n\":1}":1,"k:{\"n\":1}":2}"#,
            r#"{"a\/":1,"a/":2}"#,
            r#"{"a\tb":1,"a	b":2}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1E2}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\u+123"}"#,
            r#"{"a":"\x"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":[1,]}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nullx}"#,
            r#"{"a":1"#,
            r#"[{"a":1},{"b":2,"b":3}]"#,
            "",
            &format!("{}1{}", "[".repeat(100), "]".repeat(100)),
            &format!("{{\"a\":{}}}", "9".repeat(400)),
        ] {
            assert!(!agrees(text), "{text}");
        }
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 39)).collect();
        assert!(!agrees(&format!("{{{}}}", many.join(","))));
    }

    #[test]
    fn the_scan_agrees_with_the_walk_on_every_request_of_the_repository() {
        let mut checked = 0;
        for (path, text) in crate::test_support::repository_requests() {
            let compact = serde_json::from_str::<serde_json::Value>(&text)
                .map(|v| v.to_string())
                .unwrap_or_default();
            for text in [text, compact] {
                let fast = agrees(&text);
                let exact = walk_unique_keys(&text).is_ok();
                // Only a refused text (a duplicate key) may be left to the walk.
                assert_eq!(fast, exact, "{}", path.display());
                checked += 1;
            }
        }
        assert!(checked > 20);
    }
}
