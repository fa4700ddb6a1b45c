//! The AdmissionRequest handed to the policy.
//!
//! kwctl accepts either an AdmissionRequest or a whole AdmissionReview, reads
//! it into policy-evaluator's `AdmissionRequest` struct and serialises that
//! struct again for the guest. That round trip drops unknown members and
//! `null` optional members, and a member written twice keeps its last value;
//! this module performs the same normalisation. The guest then sees every key
//! sorted (see [`crate::guest_payload`]).

use std::collections::BTreeMap;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    pub group: String,
    pub version: String,
    pub resource: String,
}

/// `authentication.k8s.io/v1` UserInfo: every member optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<String, Vec<String>>>,
}

/// `admission.k8s.io/v1` AdmissionRequest, member for member as
/// policy-evaluator models it (`admission_request.rs`): `None` members are
/// left out, and the guest receives the members in byte order, not in this
/// declaration order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sub_resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub operation: String,
    pub user_info: UserInfo,
    /// Absent on DELETE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// Absent on CREATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_object: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

impl AdmissionRequest {
    /// Reads an AdmissionRequest, or the `request` of an AdmissionReview.
    pub fn from_json(input: &Value) -> Result<Self> {
        let object = input
            .as_object()
            .ok_or_else(|| anyhow!("Invalid request object: expected a JSON object"))?;
        let is_review = object.get("kind").and_then(Value::as_str) == Some("AdmissionReview")
            // A review without `kind` is still recognisable by its `request`.
            || (!object.contains_key("uid") && object.contains_key("request"));
        let request = if is_review {
            object
                .get("request")
                .ok_or_else(|| anyhow!("invalid AdmissionReview object: it has no `request`"))?
        } else {
            input
        };
        serde_json::from_value(request.clone())
            .context("cannot build AdmissionRequest object from given input")
    }

    pub fn from_path(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read request file {}", path.display()))?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("request file {} is not valid JSON", path.display()))?;
        Self::from_json(&value).with_context(|| format!("invalid request file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Value {
        json!({
            "uid": "1",
            "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": {"metadata": {"name": "web"}},
            "oldObject": null,
            "unknownMember": 1
        })
    }

    #[test]
    fn accepts_request_and_review() {
        let direct = AdmissionRequest::from_json(&request()).unwrap();
        let review = AdmissionRequest::from_json(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request()
        }))
        .unwrap();
        assert_eq!(direct, review);
        assert_eq!(direct.uid, "1");
    }

    #[test]
    fn normalises_like_policy_evaluator() {
        let normalised =
            serde_json::to_value(AdmissionRequest::from_json(&request()).unwrap()).unwrap();
        assert_eq!(
            normalised,
            json!({
                "uid": "1",
                "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
                "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
                "operation": "CREATE",
                "userInfo": {"username": "alice"},
                "object": {"metadata": {"name": "web"}}
            })
        );
    }

    #[test]
    fn reports_missing_members() {
        let err = AdmissionRequest::from_json(&json!({"uid": "1"})).unwrap_err();
        assert!(format!("{err:#}").contains("missing field"));
        let err = AdmissionRequest::from_json(&json!({"kind": "AdmissionReview"})).unwrap_err();
        assert!(format!("{err:#}").contains("invalid AdmissionReview object"));
        assert!(AdmissionRequest::from_json(&json!([])).is_err());
    }
}
