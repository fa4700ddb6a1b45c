//! `policy-host demo`: evaluates a folder of example requests and prints each
//! verdict for a person rather than as JSON: the verdict, the message or the
//! warnings, and the patch as one readable line per operation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::{AdmissionRequest, Evaluation};

/// The example requests of a folder (`*.json`, sorted by name), each with the
/// replay session of the same name from `sessions`, when there is one.
pub fn examples(requests: &Path, sessions: &Path) -> Result<Vec<(PathBuf, Option<PathBuf>)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(requests)
        .with_context(|| format!("cannot list {}", requests.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let session = path
                .file_stem()
                .map(|stem| sessions.join(stem).with_extension("yml"))
                .filter(|s| s.is_file());
            found.push((path, session));
        }
    }
    found.sort();
    Ok(found)
}

/// One request and its verdict, as a few indented lines.
pub fn report(
    source: &Path,
    request: &AdmissionRequest,
    evaluation: &Evaluation,
) -> Result<String> {
    let response = &evaluation.response;
    let mut out = String::new();
    let subject = format!(
        "{} {} {}/{}",
        request.operation,
        request.kind.kind,
        request.namespace.as_deref().unwrap_or(""),
        request.name.as_deref().unwrap_or("")
    );
    writeln!(out, "== {}: {subject}", source.display())?;
    let patch = response.decoded_patch()?;
    let verdict = match (response.allowed, &patch) {
        (true, Some(_)) => "ACCEPTED, with changes",
        (true, None) => "ACCEPTED",
        (false, _) => "REFUSED",
    };
    writeln!(out, "   verdict   : {verdict}")?;
    if let Some(status) = &response.status {
        if let Some(code) = status.code {
            writeln!(out, "   code      : {code}")?;
        }
        if let Some(message) = &status.message {
            writeln!(out, "   message   : {message}")?;
        }
    }
    for warning in response.warnings.iter().flatten() {
        writeln!(out, "   warning   : {warning}")?;
    }
    if let Some(Value::Array(operations)) = &patch {
        for operation in operations {
            writeln!(out, "   patch     : {}", describe_operation(operation))?;
        }
    }
    writeln!(out, "   host calls: {}", evaluation.host_calls)?;
    Ok(out)
}

/// `add /spec/podManagementPolicy = "Parallel"`.
fn describe_operation(operation: &Value) -> String {
    let op = operation.get("op").and_then(Value::as_str).unwrap_or("?");
    let path = operation.get("path").and_then(Value::as_str).unwrap_or("?");
    match operation.get("value") {
        Some(value) => format!("{op} {path} = {value}"),
        None => format!("{op} {path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AdmissionResponse;
    use base64::Engine as _;
    use serde_json::json;

    fn request() -> AdmissionRequest {
        AdmissionRequest::from_json(&json!({
            "uid": "1", "operation": "CREATE", "name": "web", "namespace": "default",
            "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
            "userInfo": {}
        }))
        .expect("request")
    }

    fn evaluation(response: AdmissionResponse) -> Evaluation {
        Evaluation {
            response,
            host_calls: 2,
            replay_problems: Vec::new(),
            unused_exchanges: 0,
        }
    }

    #[test]
    fn a_mutation_shows_each_patch_operation() {
        let patch =
            json!([{"op": "add", "path": "/spec/podManagementPolicy", "value": "Parallel"}]);
        let response = AdmissionResponse {
            uid: "1".into(),
            allowed: true,
            patch_type: Some("JSONPatch".into()),
            patch: Some(base64::engine::general_purpose::STANDARD.encode(patch.to_string())),
            warnings: Some(vec!["[partition-within-replicas] ...".into()]),
            ..AdmissionResponse::default()
        };
        let text = report(Path::new("x.json"), &request(), &evaluation(response)).expect("report");
        assert!(
            text.contains("== x.json: CREATE StatefulSet default/web"),
            "{text}"
        );
        assert!(
            text.contains("verdict   : ACCEPTED, with changes"),
            "{text}"
        );
        assert!(
            text.contains("patch     : add /spec/podManagementPolicy = \"Parallel\""),
            "{text}"
        );
        assert!(
            text.contains("warning   : [partition-within-replicas]"),
            "{text}"
        );
        assert!(text.contains("host calls: 2"), "{text}");
    }

    #[test]
    fn a_refusal_shows_the_message_and_no_patch() {
        let response = AdmissionResponse {
            uid: "1".into(),
            allowed: false,
            status: Some(crate::response::AdmissionResponseStatus {
                message: Some("StatefulSet default/web violates 1 rule".into()),
                code: Some(400),
            }),
            ..AdmissionResponse::default()
        };
        let text = report(Path::new("x.json"), &request(), &evaluation(response)).expect("report");
        assert!(text.contains("verdict   : REFUSED"), "{text}");
        assert!(text.contains("code      : 400"), "{text}");
        assert!(
            text.contains("message   : StatefulSet default/web violates 1 rule"),
            "{text}"
        );
        assert!(!text.contains("patch"), "{text}");
    }
}
