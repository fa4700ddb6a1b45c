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
