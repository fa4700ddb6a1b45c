//! Turns violations into the waPC `ValidationResponse`: the one place that
//! decides the action of each violation and words the final message.

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::checks::{Action, Violation};
use crate::settings::{LookupFailure, Settings};

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

    /// The response: refused with every denial in one message, or accepted with
    /// the warnings and, when the object was defaulted, the mutated object.
    pub fn respond(
        self,
        subject: &str,
        mutated_object: Option<serde_json::Value>,
    ) -> ValidationResponse {
        let warnings = (!self.warnings.is_empty()).then_some(self.warnings);
        if self.denials.is_empty() {
            return ValidationResponse {
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
        ValidationResponse {
            accepted: false,
            message: Some(message),
            code: None,
            mutated_object: None,
            audit_annotations: None,
            warnings,
        }
    }
}

pub fn accept(warnings: Vec<String>) -> ValidationResponse {
    Verdict {
        denials: Vec::new(),
        warnings,
    }
    .respond("", None)
}

/// A request the policy cannot judge: 400, with what was wrong.
pub fn bad_request(message: String) -> ValidationResponse {
    ValidationResponse {
        accepted: false,
        message: Some(message),
        code: Some(400),
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}
