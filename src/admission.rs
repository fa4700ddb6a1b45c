//! The admission flow, top to bottom: decode, mutate, check, respond.

use crate::checks::{self, services_in_use};
use crate::cluster::{Cluster, ClusterFacts, STATEFUL_SETS};
use crate::defaults;
use crate::request::{AdmissionRequest, RequestObject, ValidatePayload};
use crate::settings::Settings;
use crate::statefulset::{self, StatefulSet};
use crate::verdict::{self, Response, Verdict};
use crate::violation::{quote, CheckId, Violation};

/// Evaluates one `validate` payload. Every outcome is a verdict: bad input is
/// refused with code 400, never a guest error (which policy-server turns into a 500).
pub fn evaluate<'a>(payload: &'a [u8], cluster: &mut dyn Cluster) -> Response<'a> {
    evaluate_read(ValidatePayload::parse(payload), cluster)
}

/// [`evaluate`], the payload already read (in one pass or two, see `request`).
pub fn evaluate_read<'a>(
    payload: Result<ValidatePayload<'a>, serde_json::Error>,
    cluster: &mut dyn Cluster,
) -> Response<'a> {
    let payload = match payload {
        Ok(payload) => payload,
        Err(e) => {
            return verdict::bad_request(format!("the admission request does not decode: {e}"))
        }
    };
    let settings = match payload.settings.map_or(Ok(Settings::default()), |raw| {
        Settings::from_json(raw.as_bytes())
    }) {
        Ok(settings) => settings,
        Err(e) => return verdict::bad_request(format!("invalid policy settings: {e}")),
    };
    let mut request = payload.request;
    let object = request.object.take();
    let operation = request.operation.as_deref().unwrap_or("");

    // The policy judges the StatefulSet object; subresource writes (status,
    // scale) cannot change the fields it checks beyond replicas.
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return verdict::accept(Vec::new());
    }
    if request.kind.is("", "Service") && operation == "DELETE" {
        return service_delete(&request, &settings, cluster);
    }
    if !request.kind.is("apps", "StatefulSet") {
        return verdict::accept(vec![format!(
            "statefulset-policy judges StatefulSets (and Service deletions) but received a {}: check the policy's rules",
            request.kind.describe()
        )]);
    }
    let mode = if request.is_background_audit() {
        Mode::Audit
    } else if operation == "CREATE" {
        Mode::Create
    } else {
        Mode::Update
    };
    match operation {
        "CREATE" | "UPDATE" => judge_statefulset(&request, object, mode, &settings, cluster),
        _ => verdict::accept(Vec::new()),
    }
}

/// How a StatefulSet is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A CREATE from the API server: defaults first, then the checks.
    Create,
    /// An UPDATE: no defaults; what `oldObject` already violated is warned about.
    Update,
    /// Kubewarden's background audit of an existing object (see
    /// `AdmissionRequest::is_background_audit`): the object is judged as
    /// stored, without defaults (the audit applies nothing, so a default
    /// would only hide a violation), and `auditWarnings` decides whether a
    /// warn-level finding fails, since the scanner's report shows only
    /// `allowed` (kubewarden-controller v1.35.0,
    /// `internal/audit-scanner/report/report.go` `computePolicyResult`).
    Audit,
}

fn judge_statefulset<'a>(
    request: &AdmissionRequest<'a>,
    object: Option<RequestObject<'a>>,
    mode: Mode,
    settings: &Settings,
    cluster: &mut dyn Cluster,
) -> Response<'a> {
    // Decode, unless the payload's reading already did (JSON `null` is no object).
    let Some(object) = object else {
        return verdict::bad_request("the admission request has no object".into());
    };
    let raw = object.text;
    let decoded = match object.view {
        Some(view) => Ok(with_namespace(view, request)),
        None => decode(raw, request),
    };
    let mut sts = match decoded {
        Ok(sts) => sts,
        Err(message) => return verdict::bad_request(message),
    };
    let mut subject = subject(&sts);
    if mode == Mode::Audit {
        subject.push_str(" (background audit, judged as stored)");
    }

    // Mutate (CREATE from the API server only): the plan sets the defaults in the view the checks
    // judge; the same edits reach the object's text when it is accepted.
    let edits = if mode == Mode::Create
        && settings.defaults.any()
        && !defaults::opted_out(&sts.metadata.annotations)
    {
        defaults::plan(&mut sts, &settings.defaults)
    } else {
        Vec::new()
    };

    // Check, and on UPDATE recognise what the old object already violated.
    let facts = ClusterFacts::gather(&sts, settings, cluster);
    let violations = checks::run_all(&sts, settings, &facts);
    let previous = match request.old_object.filter(|_| mode == Mode::Update) {
        Some(old) => decode(old, request)
            .map(|old| checks::run_all(&old, settings, &facts))
            .unwrap_or_default(),
        None => Vec::new(),
    };

    // Respond
    let outcome = match mode {
        Mode::Audit => Verdict::for_audit(violations, settings),
        Mode::Create | Mode::Update => Verdict::from_violations(violations, &previous, settings),
    };
    let mut mutated_object = None;
    if outcome.denials.is_empty() && !edits.is_empty() {
        match defaults::locate(raw, &edits, &sts) {
            Ok(text) => mutated_object = Some(text),
            Err(e) => return verdict::bad_request(format!("{subject} cannot be defaulted: {e}")),
        }
    }
    outcome.respond(&subject, mutated_object)
}

/// `service-in-use`: a Service DELETE that would take the DNS names of live sets.
fn service_delete(
    request: &AdmissionRequest,
    settings: &Settings,
    cluster: &mut dyn Cluster,
) -> Response<'static> {
    if !settings.runs(CheckId::ServiceInUse) {
        return verdict::accept(Vec::new());
    }
    let namespace = request.namespace.as_deref().unwrap_or_default();
    let service = request.name.as_deref().unwrap_or_default();
    let violations = match cluster.stateful_sets(namespace) {
        Ok(sets) => services_in_use(service, namespace, &sets),
        Err(error) => vec![Violation::lookup_failure(
            CheckId::ServiceInUse,
            format!("Service {namespace}/{service}"),
            quote(service),
            error.explain(
                &format!("the StatefulSets of namespace {namespace}"),
                &STATEFUL_SETS,
            ),
        )],
    };
    Verdict::from_violations(violations, &[], settings)
        .respond(&format!("deleting Service {namespace}/{service}"), None)
}

fn decode(raw: &str, request: &AdmissionRequest) -> Result<StatefulSet, String> {
    statefulset::decode(raw)
        .map(|sts| with_namespace(sts, request))
        .map_err(
            |e| match request.name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => format!("StatefulSet {name} does not decode: {e}"),
                None => format!("the StatefulSet does not decode: {e}"),
            },
        )
}

/// The namespace of the request when the object leaves it out.
fn with_namespace(mut sts: StatefulSet, request: &AdmissionRequest) -> StatefulSet {
    if sts.metadata.namespace.is_empty() {
        sts.metadata.namespace = request.namespace.clone().unwrap_or_default();
    }
    if sts.metadata.name.is_empty() {
        sts.metadata.name = request.name.clone().unwrap_or_default();
    }
    sts
}

fn subject(sts: &StatefulSet) -> String {
    format!(
        "StatefulSet {}/{}",
        sts.metadata.namespace, sts.metadata.name
    )
}
