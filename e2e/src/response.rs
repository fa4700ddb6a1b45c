//! From the policy's `ValidationResponse` to the AdmissionResponse kwctl prints.
//!
//! Field names, casing and omission rules follow policy-evaluator's
//! `AdmissionResponse`: `patchType`, `patch` and `status` are omitted when
//! absent, while `auditAnnotations` and `warnings` are always written (as
//! `null` when the policy gave none). Inside `status`, absent members are
//! omitted.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a policy's `validate` returns (kubewarden-policy-sdk
/// `ValidationResponse`; no renames, `None` written as `null`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyValidationResponse {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    pub mutated_object: Option<Value>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionResponseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// `admission.k8s.io/v1` AdmissionResponse as kwctl prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Base64 of the JSONPatch text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionResponseStatus>,
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// Message policy-evaluator gives when a policy mutates a DELETE request.
pub const MUTATION_WITHOUT_OBJECT_MESSAGE: &str = "Incoming object is null, which happens only with DELETE operations, but the policy is attempting a mutation. This is not allowed";

impl AdmissionResponse {
    /// The rejection policy-server sends when the policy could not give an
    /// answer (guest error, trap, deadline, unreadable response).
    pub fn internal_server_error(uid: &str, message: &str) -> Self {
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: false,
            status: Some(AdmissionResponseStatus {
                message: Some(format!("internal server error: {message}")),
                code: Some(500),
            }),
            ..AdmissionResponse::default()
        }
    }

    /// Builds the response for `uid`, diffing `request_object` against the
    /// policy's `mutated_object` into a JSONPatch when they differ.
    pub fn from_policy_response(
        uid: &str,
        request_object: Option<&Value>,
        policy_response: &PolicyValidationResponse,
    ) -> Result<Self> {
        let patch = match (&policy_response.mutated_object, request_object) {
            (Some(_), None) => {
                return Ok(AdmissionResponse {
                    uid: uid.to_string(),
                    allowed: false,
                    status: Some(AdmissionResponseStatus {
                        message: Some(MUTATION_WITHOUT_OBJECT_MESSAGE.to_string()),
                        code: None,
                    }),
                    ..AdmissionResponse::default()
                });
            }
            (Some(mutated), Some(original)) => {
                let diff = json_patch::diff(original, mutated);
                if diff.0.is_empty() {
                    None
                } else {
                    let text =
                        serde_json::to_string(&diff).context("cannot serialize JSONPatch")?;
                    Some(BASE64.encode(text))
                }
            }
            (None, _) => None,
        };
        let status = if policy_response.message.is_some() || policy_response.code.is_some() {
            Some(AdmissionResponseStatus {
                message: policy_response.message.clone(),
                code: policy_response.code,
            })
        } else {
            None
        };
        Ok(AdmissionResponse {
            uid: uid.to_string(),
            allowed: policy_response.accepted,
            patch_type: patch.as_ref().map(|_| "JSONPatch".to_string()),
            patch,
            status,
            audit_annotations: policy_response.audit_annotations.clone(),
            warnings: policy_response.warnings.clone(),
        })
    }

    /// The JSONPatch operations, decoded from `patch`.
    pub fn decoded_patch(&self) -> Result<Option<Value>> {
        let Some(encoded) = &self.patch else {
            return Ok(None);
        };
        let bytes = BASE64
            .decode(encoded)
            .context("patch is not valid base64")?;
        let patch = serde_json::from_slice(&bytes).context("patch is not valid JSON")?;
        Ok(Some(patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mutation_becomes_base64_json_patch() {
        let original = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        let mutated = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "podManagementPolicy": "Parallel"}});
        let response = AdmissionResponse::from_policy_response(
            "uid-1",
            Some(&original),
            &PolicyValidationResponse {
                accepted: true,
                mutated_object: Some(mutated),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(response.patch_type.as_deref(), Some("JSONPatch"));
        assert_eq!(
            response.decoded_patch().unwrap(),
            Some(json!([{"op": "add", "path": "/spec/podManagementPolicy", "value": "Parallel"}]))
        );
        assert!(response.status.is_none());
    }

    #[test]
    fn unchanged_object_has_no_patch_and_serialises_like_kwctl() {
        let original = json!({"a": 1});
        let response = AdmissionResponse::from_policy_response(
            "uid-1",
            Some(&original),
            &PolicyValidationResponse {
                accepted: true,
                mutated_object: Some(original.clone()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"uid":"uid-1","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn rejection_and_delete_mutation() {
        let response = AdmissionResponse::from_policy_response(
            "u",
            None,
            &PolicyValidationResponse {
                accepted: false,
                message: Some("no".into()),
                code: Some(400),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&response).unwrap()["status"],
            json!({"message": "no", "code": 400})
        );

        let response = AdmissionResponse::from_policy_response(
            "u",
            None,
            &PolicyValidationResponse {
                accepted: true,
                mutated_object: Some(json!({})),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!response.allowed);
        assert_eq!(
            serde_json::to_value(&response).unwrap()["status"],
            json!({"message": MUTATION_WITHOUT_OBJECT_MESSAGE})
        );
    }

    #[test]
    fn internal_server_error_shape() {
        let response = AdmissionResponse::internal_server_error("u", "Guest call failure: boom");
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"uid": "u", "allowed": false, "status": {"message": "internal server error: Guest call failure: boom", "code": 500}, "auditAnnotations": null, "warnings": null})
        );
    }
}
