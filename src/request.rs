//! The `validate` payload: `{"request": <AdmissionRequest>, "settings": {...}}`.
//!
//! Only the envelope is decoded here; the objects stay raw JSON text until the
//! flow knows it needs them, and then only the fields the checks read are
//! decoded (see `statefulset`).

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

#[derive(Debug, Deserialize)]
pub struct ValidatePayload<'a> {
    #[serde(borrow, deserialize_with = "whole")]
    pub request: AdmissionRequest<'a>,
    #[serde(default, borrow, deserialize_with = "raw_text")]
    pub settings: Option<&'a str>,
}

impl<'a> ValidatePayload<'a> {
    /// Reads a payload. A plain one (nearly all: see `scan`) is read from one
    /// byte scan, which also shows that no object in it holds a key twice;
    /// anything else is read by serde_json, whose errors name the problem.
    /// Both read the same payload alike.
    pub fn parse(payload: &'a [u8]) -> Result<ValidatePayload<'a>, serde_json::Error> {
        match Self::parse_plain(payload) {
            Some(parsed) => Ok(parsed),
            None => serde_json::from_slice(payload),
        }
    }

    /// The members the derived decoder reads, each decoded alone from its
    /// text; `None` where the derived decoder could fail or the scan is not sure.
    fn parse_plain(payload: &'a [u8]) -> Option<ValidatePayload<'a>> {
        let text = std::str::from_utf8(payload).ok()?;
        let members = crate::scan::object_members(payload)?;
        let value = |member: &crate::scan::Member| &text[member.value.clone()];
        let request = members.iter().find(|m| *m.key == *b"request")?;
        if !value(request).starts_with('{') {
            return None;
        }
        let settings = match members.iter().find(|m| *m.key == *b"settings") {
            Some(member) => not_null(value(member)),
            None => None,
        };
        let mut parsed = AdmissionRequest {
            keys_checked: true,
            ..AdmissionRequest::default()
        };
        // A field spelled both ways is a duplicate field for the derived decoder.
        let mut seen_sub_resource = false;
        let mut seen_old_object = false;
        for member in &request.members {
            let text = value(member);
            let string = || serde_json::from_str::<Option<String>>(text).ok();
            match &*member.key {
                b"uid" => parsed.uid = string()?,
                b"kind" => {
                    parsed.kind = whole(&mut serde_json::Deserializer::from_str(text)).ok()?
                }
                b"operation" => parsed.operation = string()?,
                b"subResource" | b"sub_resource" if !seen_sub_resource => {
                    seen_sub_resource = true;
                    parsed.sub_resource = string()?;
                }
                b"namespace" => parsed.namespace = string()?,
                b"name" => parsed.name = string()?,
                b"object" => parsed.object = not_null(text),
                b"oldObject" | b"old_object" if !seen_old_object => {
                    seen_old_object = true;
                    parsed.old_object = not_null(text);
                }
                b"subResource" | b"sub_resource" | b"oldObject" | b"old_object" => return None,
                _ => {}
            }
        }
        Some(ValidatePayload {
            request: parsed,
            settings,
        })
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
    /// The whole payload is known to hold no key twice, so neither do
    /// `object` and `old_object` (see [`ValidatePayload::parse`]).
    #[serde(skip)]
    pub keys_checked: bool,
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
    crate::statefulset::Whole::deserialize(deserializer).map(|crate::statefulset::Whole(t)| t)
}

/// A value's JSON text as `Option<&RawValue>` reads it: `None` for `null`.
fn raw_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de str>, D::Error> {
    Option::<&'de RawValue>::deserialize(deserializer).map(|raw| raw.map(RawValue::get))
}

/// The text of a member's value (exact, as the scan found it), `None` for `null`.
fn not_null(text: &str) -> Option<&str> {
    (text != "null").then_some(text)
}

/// The object's raw JSON, with JSON `null` treated as absent.
pub fn present(raw: Option<&str>) -> Option<&str> {
    raw.filter(|r| r.trim() != "null")
}

#[cfg(test)]
mod tests {
    use super::ValidatePayload;

    /// Both readings, compared member by member.
    fn same_reading(payload: &str) -> bool {
        let plain = ValidatePayload::parse_plain(payload.as_bytes());
        let derived = serde_json::from_slice::<ValidatePayload>(payload.as_bytes());
        match (&plain, derived) {
            (Some(plain), Ok(mut derived)) => {
                assert!(plain.request.keys_checked && !derived.request.keys_checked);
                derived.request.keys_checked = true;
                assert_eq!(
                    format!("{:?} {:?}", plain.request, plain.settings),
                    format!("{:?} {:?}", derived.request, derived.settings),
                    "{payload}"
                );
            }
            (Some(_), Err(e)) => panic!("read plainly what serde_json refuses ({e}): {payload}"),
            (None, _) => {}
        }
        plain.is_some()
    }

    #[test]
    fn plain_payloads_read_as_serde_json_reads_them() {
        for payload in [
            r#"{"request":{"uid":"1","kind":{"group":"apps","version":"v1","kind":"StatefulSet"},"operation":"CREATE","subResource":null,"namespace":"ns","name":"web","object":{"a":1},"oldObject":null,"userInfo":{"username":"u"}},"settings":{"x":[1,2]}}"#,
            r#" { "settings" : null , "request" : { "sub_resource" : "status" , "old_object" : { "b" : [ ] } } , "other" : 1 } "#,
            r#"{"request":{}}"#,
            r#"{"request":{"kind":null}}"#,
            r#"{"request":{"uid":1}}"#,
            r#"{"request":{"object":null,"kind":{"kind":null,"extra":{"k":"v"}}}}"#,
        ] {
            same_reading(payload);
        }
        assert!(same_reading(r#"{"request":{"uid":"1"},"settings":{}}"#));
    }

    #[test]
    fn doubtful_payloads_are_left_to_serde_json() {
        for payload in [
            r#"{"request":{"subResource":"a","sub_resource":"b"}}"#,
            r#"{"request":{"oldObject":{},"old_object":{}}}"#,
            r#"{"request":{"uid":"1","uid":"2"}}"#,
            r#"{"request":{"object":{"a":1,"a":2}}}"#,
            r#"{"request":[]}"#,
            r#"{"request":null}"#,
            r#"{"settings":{}}"#,
            r#"[{"uid":"1"}]"#,
            r#"{"request":{}} trailing"#,
            r#"{"request":{"kind":[]}}"#,
            r#"{"request":{"operation":{}}}"#,
            r#"{"request":{"object":{"n":1e3}}}"#,
        ] {
            assert!(!same_reading(payload), "{payload}");
        }
    }

    #[test]
    fn every_request_of_the_repository_reads_alike() {
        let mut plain = 0;
        for (_, text) in crate::test_support::repository_requests() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let request = value.get("request").unwrap_or(&value);
            for settings in ["{}", r#"{"storage":{"minSize":"1Gi"}}"#] {
                let payload = format!(r#"{{"request":{request},"settings":{settings}}}"#);
                if same_reading(&payload) {
                    plain += 1;
                }
            }
        }
        assert!(plain > 40, "{plain}");
    }
}
