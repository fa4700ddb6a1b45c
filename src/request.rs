//! The `validate` payload: `{"request": <AdmissionRequest>, "settings": {...}}`.
//!
//! Only the envelope is decoded here; the objects stay raw JSON text until the
//! flow knows it needs them, and then only the fields the checks read are
//! decoded (see `statefulset`).

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::json::Whole;

#[derive(Debug, Deserialize)]
pub struct ValidatePayload<'a> {
    #[serde(borrow, deserialize_with = "whole")]
    pub request: AdmissionRequest<'a>,
    #[serde(default, borrow, deserialize_with = "raw_text")]
    pub settings: Option<&'a str>,
}

impl<'a> ValidatePayload<'a> {
    pub fn parse(payload: &'a [u8]) -> Result<ValidatePayload<'a>, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

/// The fields of a Kubernetes AdmissionRequest the policy reads. Hosts send
/// them camelCase; the SDK's snake_case spellings are accepted as well.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AdmissionRequest<'a> {
    pub uid: Option<String>,
    #[serde(deserialize_with = "whole")]
    pub kind: GroupVersionKind,
    pub operation: Option<String>,
    #[serde(alias = "sub_resource")]
    pub sub_resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    #[serde(borrow, deserialize_with = "raw_text")]
    pub object: Option<&'a str>,
    #[serde(borrow, alias = "old_object", deserialize_with = "raw_text")]
    pub old_object: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GroupVersionKind {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
}

impl GroupVersionKind {
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group.as_deref().unwrap_or("") == group && self.kind.as_deref() == Some(kind)
    }

    /// `apps/v1 StatefulSet`, `v1 Service`, for messages.
    pub fn describe(&self) -> String {
        let group = self.group.as_deref().unwrap_or("");
        let version = self.version.as_deref().unwrap_or("?");
        let kind = self.kind.as_deref().unwrap_or("unknown kind");
        if group.is_empty() {
            format!("{kind} ({version})")
        } else {
            format!("{kind} ({group}/{version})")
        }
    }
}

/// A JSON object: derived decoders would also read an array, by position.
fn whole<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Whole::deserialize(deserializer).map(|Whole(t)| t)
}

/// A value's JSON text as `Option<&RawValue>` reads it: `None` for `null`.
fn raw_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de str>, D::Error> {
    Option::<&'de RawValue>::deserialize(deserializer).map(|raw| raw.map(RawValue::get))
}

/// The object's raw JSON, with JSON `null` treated as absent.
pub fn present(raw: Option<&str>) -> Option<&str> {
    raw.filter(|r| r.trim() != "null")
}
