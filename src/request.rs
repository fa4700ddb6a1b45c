//! The `validate` payload: `{"request": <AdmissionRequest>, "settings": {...}}`.
//!
//! Only the envelope and the request's object are decoded here, and of the
//! object only the fields the checks read (see `statefulset`); the old object
//! and the settings stay raw JSON text until the flow knows it needs them.
//!
//! The payload is read in one pass when it can be: the object is decoded as a
//! StatefulSet view while the envelope is read, and its text (which the
//! defaults edit) is found from where the request's members are
//! ([`member_text`]), not captured first and decoded again: near
//! the 1.5 MiB object limit that second pass was a third of the policy's time.
//! When the one pass refuses the payload (an object the view cannot read, be
//! it a StatefulSet with a field of the wrong type or another kind; a claim's
//! refused quantity; bytes that are not UTF-8) it is read in two passes, the
//! envelope with the object's text and then the object, the reading that names
//! the offending field. Both readings give the same answer (`tests/decode.rs`).

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::json::{optional_object, Indexed, IndexedWhole, MemberIndex, Whole};
use crate::splice;
use crate::statefulset::{self, StatefulSet};

#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "'de: 'a, Object: ObjectForm<'de>"))]
pub struct ValidatePayload<'a, Object = RequestObject<'a>> {
    #[serde(deserialize_with = "indexed_whole")]
    pub request: AdmissionRequest<'a, Object>,
    #[serde(default, deserialize_with = "raw_text")]
    pub settings: Option<&'a str>,
}

/// The request's object: its JSON text and, when the payload was read in one
/// pass, the view decoded from it.
#[derive(Debug)]
pub struct RequestObject<'a> {
    pub text: &'a str,
    pub view: Option<StatefulSet>,
}

impl<'a> ValidatePayload<'a> {
    pub fn parse(payload: &'a [u8]) -> Result<ValidatePayload<'a>, serde_json::Error> {
        match Self::parse_in_one_pass(payload) {
            Some(read) => Ok(read),
            None => Self::parse_in_two_passes(payload),
        }
    }

    /// The object decoded as a StatefulSet view in the envelope's pass, or
    /// `None` when that reading refuses the payload.
    pub fn parse_in_one_pass(payload: &'a [u8]) -> Option<ValidatePayload<'a>> {
        // Valid UTF-8 as a whole, as the two passes find it where they read:
        // the object's text is written back whole when it is defaulted.
        let text = std::str::from_utf8(payload).ok()?;
        let read: ValidatePayload<'a, StatefulSet> = serde_json::from_str(text).ok()?;
        let object_text = match &read.request.object {
            None => "",
            Some(view) if statefulset::refused_quantity(view).is_some() => return None,
            Some(_) => member_text(&read.request.members, text, "object")?,
        };
        Some(read.with_object(|view| RequestObject {
            text: object_text,
            view: Some(view),
        }))
    }

    /// The envelope with the object's text; the object is decoded later.
    pub fn parse_in_two_passes(
        payload: &'a [u8],
    ) -> Result<ValidatePayload<'a>, serde_json::Error> {
        let read: ValidatePayload<'a, &'a str> = serde_json::from_slice(payload)?;
        Ok(read.with_object(|text| RequestObject { text, view: None }))
    }
}

impl<'a, Object> ValidatePayload<'a, Object> {
    fn with_object<Other>(self, form: impl FnOnce(Object) -> Other) -> ValidatePayload<'a, Other> {
        let request = self.request;
        ValidatePayload {
            request: AdmissionRequest {
                uid: request.uid,
                kind: request.kind,
                resource: request.resource,
                operation: request.operation,
                sub_resource: request.sub_resource,
                namespace: request.namespace,
                name: request.name,
                object: request.object.map(form),
                old_object: request.old_object,
                user_info: request.user_info,
                members: request.members,
            },
            settings: self.settings,
        }
    }
}

/// The text of the value of member `key` of the object whose members are
/// `members`: from after the key's colon to where the next member's key
/// begins, less the comma between (for the last member, where a scan of its
/// value ends). `None` when the members cannot be located in `text`, or `key`
/// is not exactly one of them.
fn member_text<'t>(members: &MemberIndex, text: &'t str, key: &str) -> Option<&'t str> {
    const WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];
    let members = members.locate(text)?;
    let mut named = members.iter().enumerate().filter(|(_, (k, _))| *k == key);
    let (i, (_, quote)) = named.next()?;
    if named.next().is_some() {
        return None;
    }
    let start = splice::value_start(text, *quote)?;
    let value = text.get(start..)?;
    let end = match members.get(i + 1) {
        Some((_, next_quote)) => text
            .get(start..*next_quote)?
            .trim_end_matches(WHITESPACE)
            .strip_suffix(',')?
            .trim_end_matches(WHITESPACE)
            .len(),
        None => splice::find(value, &[])?.end,
    };
    value.get(..end)
}

/// How a reading of the payload holds the request's object.
pub trait ObjectForm<'de>: Sized {
    fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self>, D::Error>;
}

/// Its JSON text (`null` is none).
impl<'de> ObjectForm<'de> for &'de str {
    fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self>, D::Error> {
        raw_text(deserializer)
    }
}

/// Its StatefulSet view, as `statefulset::decode` reads the text.
impl<'de> ObjectForm<'de> for StatefulSet {
    fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self>, D::Error> {
        optional_object(deserializer)
    }
}

/// The fields of a Kubernetes AdmissionRequest the policy reads. Hosts send
/// them camelCase; the SDK's snake_case spellings are accepted as well.
#[derive(Debug, Deserialize)]
#[serde(
    default,
    rename_all = "camelCase",
    bound(deserialize = "'de: 'a, Object: ObjectForm<'de>")
)]
pub struct AdmissionRequest<'a, Object = RequestObject<'a>> {
    pub uid: Option<String>,
    #[serde(deserialize_with = "whole")]
    pub kind: GroupVersionKind,
    /// Read only to recognise a background audit (see
    /// [`AdmissionRequest::is_background_audit`]), and only then: kept as text.
    #[serde(deserialize_with = "raw_text")]
    pub resource: Option<&'a str>,
    pub operation: Option<String>,
    #[serde(alias = "sub_resource")]
    pub sub_resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    #[serde(deserialize_with = "ObjectForm::read")]
    pub object: Option<Object>,
    #[serde(alias = "old_object", deserialize_with = "raw_text")]
    pub old_object: Option<&'a str>,
    /// Read only to recognise a background audit, kept as text like `resource`.
    #[serde(alias = "user_info", deserialize_with = "raw_text")]
    pub user_info: Option<&'a str>,
    /// Where the request's members are in the payload: the object's text is
    /// found from them when it is decoded in the envelope's pass.
    #[serde(skip)]
    pub members: MemberIndex,
}

/// Not derived: that would ask the object's form for a default it does not need.
impl<Object> Default for AdmissionRequest<'_, Object> {
    fn default() -> Self {
        AdmissionRequest {
            uid: None,
            kind: GroupVersionKind::default(),
            resource: None,
            operation: None,
            sub_resource: None,
            namespace: None,
            name: None,
            object: None,
            old_object: None,
            user_info: None,
            members: MemberIndex::default(),
        }
    }
}

impl<Object> Indexed for AdmissionRequest<'_, Object> {
    fn set_members(&mut self, members: MemberIndex) {
        self.members = members;
    }
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

/// What the recognition of a background audit reads of `resource` and of
/// `userInfo`: the API server names the resource by its lower-case plural
/// (`statefulsets`), Kubewarden's audit scanner by the kind; only whether a
/// user is named matters. One type for both members, read only when needed,
/// so that the envelope's decoders stay as small as they were.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuditMarks {
    resource: Option<String>,
    username: Option<String>,
}

impl AuditMarks {
    /// The marks of a member's JSON text; none when absent or not an object.
    fn of(text: Option<&str>) -> AuditMarks {
        text.and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }
}

impl<Object> AdmissionRequest<'_, Object> {
    /// Whether the request comes from Kubewarden's background audit scanner
    /// rather than from the API server.
    ///
    /// The scanner builds its request in kubewarden-controller v1.35.0,
    /// `internal/audit-scanner/scanner/admission_request.go`
    /// `newAdmissionRequest`: operation `CREATE`, `resource.resource` set to
    /// the object's **kind** (`StatefulSet`), and no user, so that Go writes
    /// `"userInfo":{}` and policy-server hands the guest the same empty
    /// object. The API server never sends either: a resource is named by its
    /// lower-case plural (`statefulsets`), and every request it admits carries
    /// the authenticated user's name (`system:anonymous` at the least). Both
    /// marks are required, so that an API-server request, or a request
    /// written by hand from one, is never judged as an audit.
    pub fn is_background_audit(&self) -> bool {
        if self.operation.as_deref() != Some("CREATE") {
            return false;
        }
        let named_user = AuditMarks::of(self.user_info)
            .username
            .is_some_and(|name| !name.is_empty());
        let resource = AuditMarks::of(self.resource).resource;
        let resource_is_the_kind = match (resource, &self.kind.kind) {
            (Some(resource), Some(kind)) => !kind.is_empty() && &resource == kind,
            _ => false,
        };
        resource_is_the_kind && !named_user
    }
}

/// A JSON object, its members indexed.
fn indexed_whole<'de, D: Deserializer<'de>, T: Deserialize<'de> + Indexed>(
    deserializer: D,
) -> Result<T, D::Error> {
    IndexedWhole::deserialize(deserializer).map(|IndexedWhole(t)| t)
}

/// A JSON object: derived decoders would also read an array, by position.
fn whole<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Whole::deserialize(deserializer).map(|Whole(t)| t)
}

/// A value's JSON text as `Option<&RawValue>` reads it: `None` for `null`.
fn raw_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de str>, D::Error> {
    Option::<&'de RawValue>::deserialize(deserializer).map(|raw| raw.map(RawValue::get))
}

#[cfg(test)]
mod tests {
    use super::ValidatePayload;
    use serde_json::{json, Value};

    /// The request as the audit scanner writes it (kubewarden-controller
    /// v1.35.0, `internal/audit-scanner/scanner/admission_request.go`
    /// `newAdmissionRequest`), as policy-server hands it to the guest: Go
    /// writes the empty `authenticationv1.UserInfo` as `{}` (the member is
    /// not `omitempty`), and policy-evaluator's `AdmissionRequest` keeps it.
    fn scanner_request() -> Value {
        json!({
            "uid": "0b3c5d3e-6a51-4a9e-9d3b-7c1f0e2a9b10",
            "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "resource": {"group": "apps", "version": "v1", "resource": "StatefulSet"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "name": "web",
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {},
            "object": {"apiVersion": "apps/v1", "kind": "StatefulSet",
                       "metadata": {"name": "web", "namespace": "default", "uid": "0b3c5d3e-6a51-4a9e-9d3b-7c1f0e2a9b10"}}
        })
    }

    fn is_audit(request: &Value) -> bool {
        let payload = json!({"request": request, "settings": {}}).to_string();
        let one_pass = ValidatePayload::parse(payload.as_bytes())
            .expect("decodes")
            .request
            .is_background_audit();
        let two_passes = ValidatePayload::parse_in_two_passes(payload.as_bytes())
            .expect("decodes")
            .request
            .is_background_audit();
        assert_eq!(one_pass, two_passes, "both readings agree");
        one_pass
    }

    #[test]
    fn the_scanners_request_is_an_audit() {
        assert!(is_audit(&scanner_request()));
        // A userInfo left out (kwctl and policy-server require one; the
        // policy does not) reads as no user.
        let mut request = scanner_request();
        request.as_object_mut().unwrap().remove("userInfo");
        assert!(is_audit(&request));
        request["userInfo"] = json!({"username": ""});
        assert!(is_audit(&request));
    }

    /// The API server names the resource by its plural and always names the
    /// user: a request it sent is never an audit, nor one written from it.
    #[test]
    fn api_server_requests_are_not_audits() {
        let real: Value =
            serde_json::from_str(include_str!("../tests/fixtures/real-create-request.json"))
                .expect("the captured request is JSON");
        assert_eq!(real["resource"]["resource"], "statefulsets");
        assert!(!is_audit(&real));

        for (change, what) in [
            (
                json!({"resource": {"group": "apps", "version": "v1", "resource": "statefulsets"}}),
                "the plural resource",
            ),
            (
                json!({"userInfo": {"username": "system:anonymous"}}),
                "a named user",
            ),
            (json!({"operation": "UPDATE"}), "an UPDATE"),
            (
                json!({"resource": {"group": "apps", "version": "v1", "resource": "statefulset"}}),
                "a resource that is not the kind",
            ),
            (json!({"resource": null}), "no resource"),
        ] {
            let mut request = scanner_request();
            for (key, value) in change.as_object().unwrap() {
                request[key] = value.clone();
            }
            assert!(!is_audit(&request), "{what} is no audit");
        }
    }
}
