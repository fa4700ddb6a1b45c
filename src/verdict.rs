//! Turns violations into the `validate` response: the one place that decides
//! the action of each violation and words the final message.

use std::collections::BTreeMap;

use crate::settings::{AuditWarnings, LookupFailure, Settings};
use crate::splice::Spliced;
use crate::violation::{Action, Violation};

/// The answer of `validate`: the SDK's `ValidationResponse`, except that the
/// mutated object is the JSON text the defaults spliced, written out as it is
/// (see [`Response::to_json`]) rather than parsed and serialised again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    /// Valid JSON by construction: the request's object with edits spliced
    /// in, written straight into the response bytes.
    pub mutated_object: Option<Spliced<'a>>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

impl Response<'_> {
    /// The bytes hosts read: the members of the SDK's `ValidationResponse`,
    /// in its order, `null` for none.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let object_len = self.mutated_object.as_ref().map_or(4, Spliced::len);
        let mut out = Vec::with_capacity(object_len + 256);
        out.extend_from_slice(br#"{"accepted":"#);
        serde_json::to_writer(&mut out, &self.accepted)?;
        out.extend_from_slice(br#","message":"#);
        serde_json::to_writer(&mut out, &self.message)?;
        out.extend_from_slice(br#","code":"#);
        serde_json::to_writer(&mut out, &self.code)?;
        out.extend_from_slice(br#","mutated_object":"#);
        match &self.mutated_object {
            Some(object) => object.write_to(&mut out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","audit_annotations":"#);
        serde_json::to_writer(&mut out, &self.audit_annotations)?;
        out.extend_from_slice(br#","warnings":"#);
        serde_json::to_writer(&mut out, &self.warnings)?;
        out.push(b'}');
        Ok(out)
    }
}

/// The action of one violation. A failed look-up follows `lookupFailure`, but
/// never more strictly than the check it stood in for.
fn action_of(violation: &Violation, settings: &Settings) -> Action {
    let action = settings.action(violation.check);
    if violation.lookup_failed
        && action == Action::Deny
        && settings.lookup_failure == LookupFailure::Warn
    {
        return Action::Warn;
    }
    action
}

/// What an evaluation concluded, before it is put on the wire.
#[derive(Debug, Default)]
pub struct Verdict {
    pub denials: Vec<Violation>,
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Sorts violations by action. On UPDATE, `previous` holds what the old
    /// object already violated: those are warned about, not denied, so an
    /// existing set can still scale or roll a new image.
    pub fn from_violations(
        violations: Vec<Violation>,
        previous: &[Violation],
        settings: &Settings,
    ) -> Verdict {
        let mut verdict = Verdict::default();
        for violation in violations {
            match action_of(&violation, settings) {
                Action::Off => {}
                Action::Warn => verdict.warnings.push(violation.to_string()),
                Action::Deny if previous.iter().any(|p| p.same_fault(&violation)) => {
                    verdict.warnings.push(format!(
                        "{violation} (already so before this update, so allowed)"
                    ));
                }
                Action::Deny => verdict.denials.push(violation),
            }
        }
        verdict
    }

    /// Sorts the violations of a background audit, which judges the object
    /// as stored: nothing is grandfathered (the scanner sends a CREATE), and
    /// with `auditWarnings: fail` every finding that would warn is a failure,
    /// since the scanner reports `pass` for any accepted answer, warnings and all.
    pub fn for_audit(violations: Vec<Violation>, settings: &Settings) -> Verdict {
        let warnings_fail = settings.audit_warnings == AuditWarnings::Fail;
        let mut verdict = Verdict::default();
        for violation in violations {
            match action_of(&violation, settings) {
                Action::Off => {}
                Action::Warn if !warnings_fail => verdict.warnings.push(violation.to_string()),
                Action::Warn | Action::Deny => verdict.denials.push(violation),
            }
        }
        verdict
    }

    /// The response: refused with every denial in one message, or accepted with
    /// the warnings and, when the object was defaulted, the mutated object.
    pub fn respond<'a>(self, subject: &str, mutated_object: Option<Spliced<'a>>) -> Response<'a> {
        let warnings = (!self.warnings.is_empty()).then_some(self.warnings);
        if self.denials.is_empty() {
            return Response {
                accepted: true,
                message: None,
                code: None,
                mutated_object,
                audit_annotations: None,
                warnings,
            };
        }
        let mut message = format!(
            "{subject} violates {} rule{}:",
            self.denials.len(),
            if self.denials.len() == 1 { "" } else { "s" }
        );
        for (i, denial) in self.denials.iter().enumerate() {
            message.push_str(&format!(" ({}) {denial}", i + 1));
            if !message.ends_with('.') {
                message.push('.');
            }
        }
        Response {
            accepted: false,
            message: Some(message),
            code: None,
            mutated_object: None,
            audit_annotations: None,
            warnings,
        }
    }
}

pub fn accept(warnings: Vec<String>) -> Response<'static> {
    Verdict {
        denials: Vec::new(),
        warnings,
    }
    .respond("", None)
}

/// A request the policy cannot judge: 400, with what was wrong.
pub fn bad_request(message: String) -> Response<'static> {
    Response {
        accepted: false,
        message: Some(message),
        code: Some(400),
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}

#[cfg(test)]
mod tests {
    use super::Response;
    use crate::splice::{self, Edit, Step};
    use kubewarden_policy_sdk::response::ValidationResponse;
    use serde_json::json;

    /// The bytes are those the SDK's own type serialises to, the mutated
    /// object written from the request's text and the edits' places.
    #[test]
    fn the_wire_format_is_the_sdks() {
        let text = json!({"spec": {"a": [1, "b"]}, "z": null}).to_string();
        let edits = [Edit::new(vec![Step::Key("z")], json!({"k": "é"}))];
        let object = json!({"spec": {"a": [1, "b"]}, "z": {"k": "é"}});
        let ours = Response {
            accepted: true,
            message: Some("a \"quoted\" message".into()),
            code: Some(400),
            mutated_object: Some(splice::locate(&text, &edits, None).unwrap()),
            audit_annotations: Some([("k".to_string(), "v".to_string())].into()),
            warnings: Some(vec!["w".into()]),
        };
        let sdk = ValidationResponse {
            accepted: ours.accepted,
            message: ours.message.clone(),
            code: ours.code,
            mutated_object: Some(object),
            audit_annotations: ours
                .audit_annotations
                .clone()
                .map(|a| a.into_iter().collect()),
            warnings: ours.warnings.clone(),
        };
        let expected = serde_json::to_vec(&sdk).unwrap();
        assert_eq!(
            String::from_utf8(ours.to_json().unwrap()).unwrap(),
            String::from_utf8(expected).unwrap()
        );

        let bare = Response {
            accepted: false,
            message: None,
            code: None,
            mutated_object: None,
            audit_annotations: None,
            warnings: None,
        };
        let sdk = ValidationResponse {
            accepted: false,
            message: None,
            code: None,
            mutated_object: None,
            audit_annotations: None,
            warnings: None,
        };
        assert_eq!(bare.to_json().unwrap(), serde_json::to_vec(&sdk).unwrap());
    }
}
