//! Reading JSON into the policy's typed views: the serde helpers every view
//! (the StatefulSet, the request envelope, the settings, look-up answers)
//! shares, and one decoder whose errors name the offending field.
//!
//! A key written twice is refused for free where serde refuses it (a field of
//! a typed view); policy-server and kwctl hand the policy objects re-serialised
//! from a parsed value, so no key reaches it twice from them.

use serde::de::value::{CowStrDeserializer, MapAccessDeserializer};
use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
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

/// Where the members of a decoded object are in the text it was decoded
/// from, learned while decoding it: for each member in text order, the
/// address and length of its key (its bytes between the quotes), or `None`
/// for a key with escape sequences, which serde decodes into a new string.
///
/// The defaults edit members of a StatefulSet's `spec`, whose `template` may
/// be a megabyte long; knowing where the members are lets [`crate::splice`]
/// go straight to them instead of scanning the text up to them. Addresses
/// rather than offsets because a decoder does not know where its text
/// starts; [`MemberIndex::locate`] turns them into offsets of a given text,
/// and refuses any that do not point at that text's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberIndex(Vec<Option<(usize, usize)>>);

impl MemberIndex {
    /// Each member's key and the offset of its opening quote in `text`, in
    /// text order; `None` when there is no member, or one cannot be located
    /// in `text` (an escaped key, or an index of another text).
    pub fn locate<'t>(&self, text: &'t str) -> Option<Vec<(&'t str, usize)>> {
        if self.0.is_empty() {
            return None;
        }
        let base = text.as_ptr() as usize;
        let bytes = text.as_bytes();
        self.0
            .iter()
            .map(|key| {
                let (address, len) = (*key)?;
                let start = address.checked_sub(base)?;
                let quote = start.checked_sub(1)?;
                let end = start.checked_add(len)?;
                let quoted = bytes.get(quote) == Some(&b'"') && bytes.get(end) == Some(&b'"');
                quoted.then_some((text.get(start..end)?, quote))
            })
            .collect()
    }
}

/// A typed view that keeps the [`MemberIndex`] of the object it was read from.
pub trait Indexed {
    fn set_members(&mut self, members: MemberIndex);
}

/// [`Whole`], also recording where the object's members are (see [`MemberIndex`]).
pub struct IndexedWhole<T>(pub T);

impl<'de, T: Deserialize<'de> + Indexed> Deserialize<'de> for IndexedWhole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IndexedVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + Indexed> Visitor<'de> for IndexedVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                let mut members = MemberIndex::default();
                let recording = RecordingKeys {
                    map,
                    members: &mut members,
                };
                let mut value = T::deserialize(MapAccessDeserializer::new(recording))?;
                value.set_members(members);
                Ok(value)
            }
        }

        deserializer
            .deserialize_map(IndexedVisitor(PhantomData))
            .map(IndexedWhole)
    }
}

/// [`object`], also recording where the object's members are (see [`MemberIndex`]).
pub fn indexed_object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + Indexed,
{
    Ok(Option::<IndexedWhole<T>>::deserialize(deserializer)?
        .map(|IndexedWhole(value)| value)
        .unwrap_or_default())
}

/// A map whose keys are recorded into a [`MemberIndex`] on their way to the
/// typed view's decoder; values pass through untouched.
struct RecordingKeys<'m, A> {
    map: A,
    members: &'m mut MemberIndex,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for RecordingKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.map.next_key_seed(RecordedKey {
            seed,
            members: self.members,
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

struct RecordedKey<'m, K> {
    seed: K,
    members: &'m mut MemberIndex,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for RecordedKey<'_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K::Value, D::Error> {
        struct KeyText;
        impl<'de> Visitor<'de> for KeyText {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(key))
            }
            fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(key.to_owned()))
            }
            fn visit_string<E>(self, key: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(key))
            }
        }
        let key = deserializer.deserialize_str(KeyText)?;
        self.members.0.push(match &key {
            Cow::Borrowed(text) => Some((text.as_ptr() as usize, text.len())),
            Cow::Owned(_) => None,
        });
        self.seed
            .deserialize(CowStrDeserializer::<D::Error>::new(key))
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

/// Decodes a typed view from a JSON text, naming the field on error.
///
/// One typed pass: the path of a refused field is found from where serde_json
/// stopped in the text ([`path_at`]), not by decoding again with
/// serde_path_to_error, which would copy every view's decoder once more into
/// the module. The path reads as serde_path_to_error writes it.
pub fn decode<'de, T: Deserialize<'de>>(json: &'de str) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(json);
    Whole::deserialize(&mut de)
        .map(|Whole(object)| object)
        .map_err(|e| DecodeError {
            field: path_at(json, offset_of(json, e.line(), e.column())),
            reason: e.to_string(),
        })
}

/// The byte offset of serde_json's error position: `column` counts the bytes
/// after the last newline before it, lines count from 1.
fn offset_of(json: &str, line: usize, column: usize) -> usize {
    let start = json
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .filter(|_| line > 1)
        .map_or(0, |(at, _)| at + 1);
    (start + column).min(json.len())
}

/// Where a scan of the text is, inside one object or array.
enum Frame {
    /// The member key read last, and whether its ':' was read (its value is
    /// then the one being read).
    Object { key: Option<String>, colon: bool },
    /// The index of the element being read, or read last.
    Array { index: usize },
}

/// The path of the value at byte `offset` of a valid JSON text: the members
/// and elements it is nested in, e.g. `spec.volumeClaimTemplates[1].spec`, or
/// `.` for the top level. serde_json stops after a refused value or key, or
/// before a value it refuses without reading (an object or array), so:
/// inside an object, the member whose ':' was read is part of the path (an
/// error in its value), a key without its ':' is not (an error about the
/// object, such as a duplicate field); inside an array, the element read
/// last or about to be read is.
pub fn path_at(json: &str, offset: usize) -> String {
    let bytes = json.as_bytes();
    let end = offset.min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                colon: false,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, colon }) => {
                    *key = None;
                    *colon = false;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { colon, .. }) = stack.last_mut() {
                    *colon = true;
                }
            }
            b'"' => {
                let (text, next) = string_at(json, i);
                if let Some(Frame::Object { key, colon: false }) = stack.last_mut() {
                    *key = Some(text);
                }
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    let innermost = stack.len().saturating_sub(1);
    for (depth, frame) in stack.iter().enumerate() {
        match frame {
            Frame::Object {
                key: Some(key),
                colon,
            } if *colon || depth < innermost => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { .. } => {}
            Frame::Array { index } => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    if path.is_empty() {
        path.push('.');
    }
    path
}

/// The JSON string starting at the quote at `start`, unescaped, and the byte
/// offset after its closing quote.
fn string_at(json: &str, start: usize) -> (String, usize) {
    let bytes = json.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    let end = (i + 1).min(bytes.len());
    let text = serde_json::from_str(&json[start..end]).unwrap_or_default();
    (text, end)
}

#[cfg(test)]
mod tests {
    use super::{decode, indexed_object, Indexed, MemberIndex};
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    struct Outer {
        #[serde(default, deserialize_with = "indexed_object")]
        spec: Members,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Members {
        #[serde(skip)]
        members: MemberIndex,
    }

    impl Indexed for Members {
        fn set_members(&mut self, members: MemberIndex) {
            self.members = members;
        }
    }

    fn located(text: &str) -> Option<Vec<(&str, usize)>> {
        let outer: Outer = decode(text).expect("decodes");
        outer.spec.members.locate(text)
    }

    #[test]
    fn the_index_names_every_member_where_its_key_is() {
        let text = r#"{"a": "{\"spec\": 1}", "spec" : { "x":1,"y" : {"z":[]}, "x" :2 } }"#;
        let members = located(text).expect("located");
        let keys: Vec<&str> = members.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, ["x", "y", "x"]);
        for (key, quote) in members {
            assert_eq!(&text[quote..quote + key.len() + 2], format!("\"{key}\""));
        }
    }

    #[test]
    fn no_index_without_members_or_for_an_escaped_key() {
        assert_eq!(located(r#"{"spec": {}}"#), None);
        assert_eq!(located(r#"{"spec": null}"#), None);
        assert_eq!(located(r#"{}"#), None);
        assert_eq!(located(r#"{"spec": {"a": 1, "\u0062": 2}}"#), None);
    }

    #[test]
    fn an_index_locates_nothing_in_another_text() {
        let text = r#"{"spec": {"a": 1}}"#;
        let outer: Outer = decode(text).expect("decodes");
        let copy = text.to_string();
        assert_eq!(outer.spec.members.locate(&copy), None);
        assert_eq!(outer.spec.members.locate(&text[..12]), None);
        // A part of the same text holding the keys locates them in that part.
        assert_eq!(outer.spec.members.locate(text), Some(vec![("a", 10)]));
        assert_eq!(outer.spec.members.locate(&text[1..]), Some(vec![("a", 9)]));
    }

    #[test]
    fn an_indexed_object_reads_as_an_object_does() {
        for (text, refused) in [
            (r#"{"spec": []}"#, true),
            (r#"{"spec": "x"}"#, true),
            (r#"{"spec": {"a": }}"#, true),
            (r#"{"spec": null}"#, false),
            (r#"{"spec": {"a": [1, {"b": null}]}}"#, false),
        ] {
            assert_eq!(decode::<Outer>(text).is_err(), refused, "{text}");
        }
    }
}
