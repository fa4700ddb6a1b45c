//! The `validate` payload: `{"request": <AdmissionRequest>, "settings": {...}}`.
//!
//! Only the envelope is decoded here; the objects stay raw JSON text until the
//! flow knows it needs them, and then only the fields the checks read are
//! decoded (see `statefulset`).

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Debug, Deserialize)]
pub struct ValidatePayload<'a> {
    #[serde(borrow)]
    pub request: AdmissionRequest<'a>,
    #[serde(default, borrow)]
    pub settings: Option<&'a RawValue>,
}

/// The fields of a Kubernetes AdmissionRequest the policy reads. Hosts send
/// them camelCase; the SDK's snake_case spellings are accepted as well.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AdmissionRequest<'a> {
    pub uid: Option<String>,
    pub kind: GroupVersionKind,
    pub operation: Option<String>,
    #[serde(alias = "sub_resource")]
    pub sub_resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    #[serde(borrow)]
    pub object: Option<&'a RawValue>,
    #[serde(borrow, alias = "old_object")]
    pub old_object: Option<&'a RawValue>,
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

/// The object's raw JSON, with JSON `null` treated as absent.
pub fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get().trim() != "null")
}
