//! Reading JSON into the policy's typed views: the serde helpers every view
//! (the StatefulSet, the request envelope, the settings, look-up answers)
//! shares, and one decoder whose errors name the offending field.
//!
//! A key written twice is refused for free where serde refuses it (a field of
//! a typed view); policy-server and kwctl hand the policy objects re-serialised
//! from a parsed value, so no key reaches it twice from them.

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::marker::PhantomData;

/// `null` where Kubernetes allows it, for fields whose absence has a natural empty value.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A JSON object only. Derived struct decoders would also read a JSON array,
/// positionally: a field of the wrong type must be refused, not misread.
///
/// `deserialize_map` rather than `deserialize_any`: the JSON decoder's
/// `deserialize_any` is large and would be copied for every type read this
/// way, its `deserialize_map` is small; `Option` handles `null` first.
struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// A whole object (the top level, a list item): `null` is refused too.
pub struct Whole<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Whole)
    }
}

/// A JSON object, or `null` for none.
pub fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(object)| object))
}

/// An object field whose absence or `null` reads as its empty value.
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(optional_object(deserializer)?.unwrap_or_default())
}

/// A list of objects, `null` read as empty.
pub fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
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

/// Decodes a typed view from a JSON text, naming the field on error.
pub fn decode<'de, T: Deserialize<'de>>(json: &'de str) -> Result<T, DecodeError> {
    // Read plainly first: the path of a field is tracked only to word a refusal.
    let mut de = serde_json::Deserializer::from_str(json);
    if let Ok(Whole(object)) = Whole::deserialize(&mut de) {
        return Ok(object);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de)
        .map(|Whole(object)| object)
        .map_err(|e| DecodeError {
            field: e.path().to_string(),
            reason: e.inner().to_string(),
        })
}
