//! Host calls from the guest: dispatch, access control and replay.
//!
//! The rules follow policy-evaluator's host callback so a policy sees the same
//! answers here as under kwctl / policy-server:
//! - the binding must be `kubewarden` (`unknown binding: X` otherwise);
//! - `tracing/log` is always accepted and answers nothing;
//! - every other call is gated first by its capability path
//!   `{namespace}/{operation}` (see [`crate::capabilities`]); a refusal reads
//!   `Policy has not been granted access to the '<path>' host capability.
//!   The violation has been reported.`;
//! - `kubernetes/{get_resource,list_resources_by_namespace,list_resources_all}`
//!   then need access to the requested `(apiVersion, kind)`; a refusal reads
//!   `Policy has not been granted access to Kubernetes <apiVersion>/<kind>
//!   resources. The violation has been reported.`;
//! - `kubernetes/can_i` reads no resource type: the capability gate is all;
//! - the answer then comes from the [`Answers`] given: a replay session, in
//!   order, or a [`ClusterState`] (see [`crate::cluster`]);
//! - an answer that fails (recorded `type: Error`, replay mismatch, exhausted
//!   session, object not found in the cluster) reaches the guest as
//!   `Callback evaluation failure: <why>`;
//! - anything else is `unknown namespace: X` / `unknown operation: X`.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::sync::{Mutex, MutexGuard};

use crate::capabilities::{capability_refusal, HostCapabilities, UNGATED_NAMESPACE};
use crate::cluster::ClusterState;
use crate::session::{Exchange, ExchangeResponse, HostRequest, ReplaySession};

/// Text policy-evaluator puts before every failed callback answer.
pub const CALLBACK_FAILURE_PREFIX: &str = "Callback evaluation failure: ";

/// What a policy may call and read, fixed for the lifetime of an evaluator.
#[derive(Clone, Debug, Default)]
pub struct AccessPolicy {
    /// The host capabilities granted (`hostCapabilities` of a policies.yml
    /// entry, or kwctl's `--allowed-host-capabilities`).
    pub host_capabilities: HostCapabilities,
    /// `(apiVersion, kind)` pairs the policy may read: a policies.yml entry's
    /// `contextAwareResources`, or under kwctl's `--allow-context-aware` the
    /// module metadata's list plus any `--context-aware-resource`.
    pub allowed_resources: BTreeSet<(String, String)>,
}

impl AccessPolicy {
    fn may_read(&self, api_version: &str, kind: &str) -> bool {
        self.allowed_resources
            .contains(&(api_version.to_string(), kind.to_string()))
    }
}

/// Where the answers to Kubernetes look-ups come from.
#[derive(Clone, Debug)]
pub enum Answers {
    /// A kwctl replay session: each call must match the next recorded one.
    Replay(ReplaySession),
    /// A read-only API server over a set of objects, in any order.
    Cluster(ClusterState),
}

impl From<ReplaySession> for Answers {
    fn from(session: ReplaySession) -> Self {
        Answers::Replay(session)
    }
}

impl From<ClusterState> for Answers {
    fn from(cluster: ClusterState) -> Self {
        Answers::Cluster(cluster)
    }
}

/// Per-instance state of the host side of the waPC conversation.
///
/// The waPC host callback must be `Fn + Send + Sync`, so the mutable parts
/// live behind a mutex; there is exactly one guest thread, so it never waits.
#[derive(Debug)]
pub struct HostCallHandler {
    access: AccessPolicy,
    print_guest_logs: bool,
    state: Mutex<HandlerState>,
}

#[derive(Debug, Default)]
struct HandlerState {
    /// `None`: no session file was given (look-ups cannot be answered).
    session: Option<VecDeque<Exchange>>,
    /// The cluster answering look-ups instead of a session.
    cluster: Option<ClusterState>,
    /// Host calls other than `tracing/log`, whatever their outcome.
    host_calls: usize,
    /// Replay mismatches and exhaustion, kept so callers can report them even
    /// when the policy swallowed the error.
    replay_problems: Vec<String>,
}

/// A snapshot of what happened on the host side during one guest call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCallReport {
    pub host_calls: usize,
    pub replay_problems: Vec<String>,
    /// Exchanges of the session that were never consumed.
    pub unused_exchanges: usize,
}

impl HostCallHandler {
    /// A handler answering look-ups from a replay session (or from nothing).
    pub fn new(
        access: AccessPolicy,
        session: Option<ReplaySession>,
        print_guest_logs: bool,
    ) -> Self {
        HostCallHandler::with_answers(access, session.map(Answers::Replay), print_guest_logs)
    }

    /// A handler answering look-ups from `answers` (or from nothing).
    pub fn with_answers(
        access: AccessPolicy,
        answers: Option<Answers>,
        print_guest_logs: bool,
    ) -> Self {
        let mut state = HandlerState::default();
        match answers {
            Some(Answers::Replay(session)) => state.session = Some(session.into_exchanges()),
            Some(Answers::Cluster(cluster)) => state.cluster = Some(cluster),
            None => {}
        }
        HostCallHandler {
            access,
            print_guest_logs,
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> MutexGuard<'_, HandlerState> {
        // A panic while holding the lock cannot leave the state inconsistent
        // (every update is a single assignment), so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Zeroes the counters, keeping the remaining session.
    pub fn reset_counters(&self) {
        let mut state = self.state();
        state.host_calls = 0;
        state.replay_problems.clear();
    }

    pub fn report(&self) -> HostCallReport {
        let state = self.state();
        HostCallReport {
            host_calls: state.host_calls,
            replay_problems: state.replay_problems.clone(),
            unused_exchanges: state.session.as_ref().map_or(0, VecDeque::len),
        }
    }

    /// Answers one `host_call(binding, namespace, operation, payload)`.
    pub fn handle(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        if binding != "kubewarden" {
            self.state().host_calls += 1;
            return Err(format!("unknown binding: {binding}"));
        }
        if namespace == UNGATED_NAMESPACE {
            return match operation {
                "log" => {
                    self.log_guest_event(payload);
                    Ok(Vec::new())
                }
                _ => Err(format!("unknown operation: {operation}")),
            };
        }
        self.state().host_calls += 1;
        // Gated before the payload is read, like policy-evaluator's callback.
        let capability_path = format!("{namespace}/{operation}");
        if !self.access.host_capabilities.allows(&capability_path) {
            return Err(capability_refusal(&capability_path));
        }
        match namespace {
            "kubernetes" => self.handle_kubernetes(operation, payload),
            _ => Err(format!("unknown namespace: {namespace}")),
        }
    }

    fn log_guest_event(&self, payload: &[u8]) {
        if self.print_guest_logs {
            let mut stderr = std::io::stderr().lock();
            // Logging must never fail the policy; a closed stderr is ignored.
            let _ = writeln!(stderr, "policy log: {}", String::from_utf8_lossy(payload));
        }
    }

    fn handle_kubernetes(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let request = decode_kubernetes_request(operation, payload)?;
        if let Some((api_version, kind)) = request.resource_type() {
            if !self.access.may_read(api_version, kind) {
                return Err(format!(
                    "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. The violation has been reported."
                ));
            }
        }
        self.answer(request)
    }

    /// The answer of the cluster, or of the session's next exchange.
    fn answer(&self, request: HostRequest) -> Result<Vec<u8>, String> {
        let mut state = self.state();
        if let Some(cluster) = &state.cluster {
            return cluster
                .answer(&request)
                .map_err(|why| format!("{CALLBACK_FAILURE_PREFIX}{why}"));
        }
        let Some(session) = state.session.as_mut() else {
            return Err(format!(
                "{CALLBACK_FAILURE_PREFIX}no replay session was given (--replay-host-capabilities-interactions), so policy-host cannot answer {request:?}"
            ));
        };
        let Some(expected) = session.pop_front() else {
            // kwctl's wording for an exhausted session.
            let problem = format!(
                "the list of recorded responses is empty (unexpected extra request {request:?})"
            );
            state.replay_problems.push(problem.clone());
            return Err(format!("{CALLBACK_FAILURE_PREFIX}{problem}"));
        };
        if !expected.request.matches(&request) {
            // kwctl's wording, with both requests in Debug form.
            let problem = format!(
                "Replay error: unexpected request. Was expecting {:?}, got {:?} instead",
                expected.request, request
            );
            state.replay_problems.push(problem.clone());
            return Err(format!("{CALLBACK_FAILURE_PREFIX}{problem}"));
        }
        match expected.response {
            ExchangeResponse::Success { payload } => Ok(payload.into_bytes()),
            ExchangeResponse::Error { message } => {
                Err(format!("{CALLBACK_FAILURE_PREFIX}{message}"))
            }
        }
    }
}

/// The guest's payload for an operation holds exactly the fields of the
/// matching [`HostRequest`] variant (the SDK serialises them snake_case, `None`
/// as `null`), so it decodes as that variant.
fn decode_kubernetes_request(operation: &str, payload: &[u8]) -> Result<HostRequest, String> {
    let variant = match operation {
        "get_resource" => "KubernetesGetResource",
        "list_resources_by_namespace" => "KubernetesListResourceNamespace",
        "list_resources_all" => "KubernetesListResourceAll",
        "can_i" => "KubernetesCanI",
        _ => return Err(format!("unknown operation: {operation}")),
    };
    let undecodable =
        |e: serde_json::Error| format!("cannot decode the kubernetes/{operation} request: {e}");
    let fields: serde_json::Value = serde_json::from_slice(payload).map_err(undecodable)?;
    serde_json::from_value(serde_json::json!({ variant: fields })).map_err(undecodable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service_request() -> &'static [u8] {
        br#"{"api_version":"v1","kind":"Service","name":"nginx","namespace":"default","disable_cache":false,"field_masks":null}"#
    }

    /// The guest asking for Service default/nginx.
    fn get_service(handler: &HostCallHandler) -> Result<Vec<u8>, String> {
        handler.handle(
            "kubewarden",
            "kubernetes",
            "get_resource",
            service_request(),
        )
    }

    fn service_access() -> AccessPolicy {
        AccessPolicy {
            host_capabilities: HostCapabilities::AllowAll,
            allowed_resources: BTreeSet::from([("v1".to_string(), "Service".to_string())]),
        }
    }

    fn granting(patterns: &[&str]) -> AccessPolicy {
        AccessPolicy {
            host_capabilities: HostCapabilities::parse(patterns).unwrap(),
            ..service_access()
        }
    }

    fn can_i_request() -> &'static [u8] {
        br#"{"subject_access_review":{"groups":null,"resource_attributes":{"group":null,"name":null,"namespace":null,"resource":"pods","subresource":null,"verb":"get","version":null},"user":"alice"},"disable_cache":false}"#
    }

    fn session(response: ExchangeResponse) -> ReplaySession {
        ReplaySession::new([Exchange {
            request: HostRequest::KubernetesGetResource {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: "nginx".into(),
                namespace: Some("default".into()),
                disable_cache: false,
                field_masks: None,
            },
            response,
        }])
    }

    #[test]
    fn replays_success_payload_and_counts() {
        let handler = HostCallHandler::new(
            service_access(),
            Some(session(ExchangeResponse::Success {
                payload: "{\"ok\":true}".into(),
            })),
            false,
        );
        let answer = get_service(&handler);
        assert_eq!(answer.unwrap(), b"{\"ok\":true}".to_vec());
        handler
            .handle("kubewarden", "tracing", "log", b"{}")
            .unwrap();
        let report = handler.report();
        assert_eq!(report.host_calls, 1, "tracing/log is not counted");
        assert_eq!(report.unused_exchanges, 0);
    }

    #[test]
    fn recorded_error_gets_callback_prefix() {
        let handler = HostCallHandler::new(
            service_access(),
            Some(session(ExchangeResponse::Error {
                message: "boom".into(),
            })),
            false,
        );
        let err = get_service(&handler).unwrap_err();
        assert_eq!(err, "Callback evaluation failure: boom");
    }

    #[test]
    fn resource_outside_the_allow_list_is_refused_after_the_capability_gate() {
        let no_resources = AccessPolicy {
            host_capabilities: HostCapabilities::AllowAll,
            allowed_resources: BTreeSet::new(),
        };
        let handler = HostCallHandler::new(no_resources, None, false);
        let err = get_service(&handler).unwrap_err();
        assert_eq!(
            err,
            "Policy has not been granted access to Kubernetes v1/Service resources. The violation has been reported."
        );

        let handler = HostCallHandler::new(service_access(), None, false);
        let err = handler
            .handle(
                "kubewarden",
                "kubernetes",
                "list_resources_all",
                br#"{"api_version":"storage.k8s.io/v1","kind":"StorageClass","label_selector":null,"field_selector":null}"#,
            )
            .unwrap_err();
        assert!(err.contains("Kubernetes storage.k8s.io/v1/StorageClass resources"));
        assert_eq!(handler.report().host_calls, 1);
    }

    #[test]
    fn capability_gate_comes_before_the_resource_check_and_the_session() {
        // Resource granted, capability not: the capability refusal wins and
        // the recorded answer is not consumed.
        let handler = HostCallHandler::new(
            AccessPolicy {
                host_capabilities: HostCapabilities::DenyAll,
                ..service_access()
            },
            Some(session(ExchangeResponse::Success {
                payload: "{}".into(),
            })),
            false,
        );
        let err = get_service(&handler).unwrap_err();
        assert_eq!(
            err,
            "Policy has not been granted access to the 'kubernetes/get_resource' host capability. The violation has been reported."
        );
        let report = handler.report();
        assert_eq!(report.host_calls, 1, "a refused call is still a call");
        assert_eq!(report.unused_exchanges, 1);

        // Only list capabilities granted: get_resource is refused by name.
        let handler =
            HostCallHandler::new(granting(&["kubernetes/list_resources_all"]), None, false);
        let err = get_service(&handler).unwrap_err();
        assert!(
            err.contains("'kubernetes/get_resource' host capability"),
            "{err}"
        );
        // The gate reads only the path: even an undecodable payload is refused by it.
        let err = handler
            .handle("kubewarden", "kubernetes", "can_i", b"not json")
            .unwrap_err();
        assert!(err.contains("'kubernetes/can_i' host capability"), "{err}");
        let err = handler
            .handle(
                "kubewarden",
                "net",
                "v1/dns_lookup_host",
                b"\"example.com\"",
            )
            .unwrap_err();
        assert!(
            err.contains("'net/v1/dns_lookup_host' host capability"),
            "{err}"
        );
    }

    fn cluster() -> ClusterState {
        ClusterState::new([serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "nginx", "namespace": "default"},
            "spec": {"clusterIP": "None"}
        })])
        .unwrap()
    }

    #[test]
    fn a_cluster_answers_in_any_order_and_misses_as_a_callback_failure() {
        let handler =
            HostCallHandler::with_answers(service_access(), Some(cluster().into()), false);
        let other = br#"{"api_version":"v1","kind":"Service","name":"other","namespace":"default","disable_cache":false,"field_masks":null}"#;
        let err = handler
            .handle("kubewarden", "kubernetes", "get_resource", other)
            .unwrap_err();
        assert_eq!(
            err,
            r#"Callback evaluation failure: Cannot find v1/Service named 'other' inside of namespace 'Some("default")'"#
        );
        for _ in 0..2 {
            let answer: serde_json::Value =
                serde_json::from_slice(&get_service(&handler).unwrap()).unwrap();
            assert_eq!(answer["metadata"]["name"], "nginx");
        }
        let list = handler
            .handle(
                "kubewarden",
                "kubernetes",
                "list_resources_by_namespace",
                br#"{"api_version":"v1","kind":"Service","namespace":"default","label_selector":null,"field_selector":null,"field_masks":null}"#,
            )
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
        assert_eq!(list["kind"], "ServiceList");
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let report = handler.report();
        assert_eq!(report.host_calls, 4);
        assert!(report.replay_problems.is_empty());
        assert_eq!(report.unused_exchanges, 0);
    }

    #[test]
    fn a_cluster_is_behind_the_same_gates() {
        let handler = HostCallHandler::with_answers(
            AccessPolicy {
                host_capabilities: HostCapabilities::DenyAll,
                ..service_access()
            },
            Some(cluster().into()),
            false,
        );
        assert!(get_service(&handler)
            .unwrap_err()
            .contains("'kubernetes/get_resource' host capability"));
        let handler = HostCallHandler::with_answers(
            AccessPolicy {
                host_capabilities: HostCapabilities::AllowAll,
                allowed_resources: BTreeSet::new(),
            },
            Some(cluster().into()),
            false,
        );
        assert_eq!(
            get_service(&handler).unwrap_err(),
            "Policy has not been granted access to Kubernetes v1/Service resources. The violation has been reported."
        );
        assert_eq!(handler.report().host_calls, 1);
    }

    #[test]
    fn tracing_is_never_gated() {
        let handler = HostCallHandler::new(
            AccessPolicy {
                host_capabilities: HostCapabilities::DenyAll,
                allowed_resources: BTreeSet::new(),
            },
            None,
            false,
        );
        assert_eq!(
            handler.handle("kubewarden", "tracing", "log", b"{}"),
            Ok(Vec::new())
        );
        assert_eq!(handler.report().host_calls, 0);
    }

    #[test]
    fn can_i_needs_only_its_capability() {
        let handler = HostCallHandler::new(
            AccessPolicy {
                host_capabilities: HostCapabilities::parse(["kubernetes/can_i"]).unwrap(),
                allowed_resources: BTreeSet::new(),
            },
            None,
            false,
        );
        let err = handler
            .handle("kubewarden", "kubernetes", "can_i", can_i_request())
            .unwrap_err();
        // Past both gates: it fails only because no session was given.
        assert!(err.contains("no replay session was given"), "{err}");
    }

    #[test]
    fn unknown_calls_are_errors() {
        let handler = HostCallHandler::new(service_access(), None, false);
        assert_eq!(
            handler.handle("other", "x", "y", b"").unwrap_err(),
            "unknown binding: other"
        );
        assert_eq!(
            handler
                .handle("kubewarden", "net", "v1/dns_lookup_host", b"\"x\"")
                .unwrap_err(),
            "unknown namespace: net"
        );
        assert_eq!(
            handler
                .handle("kubewarden", "kubernetes", "delete", b"{}")
                .unwrap_err(),
            "unknown operation: delete"
        );
        assert_eq!(
            handler
                .handle("kubewarden", "tracing", "trace", b"{}")
                .unwrap_err(),
            "unknown operation: trace"
        );
        assert_eq!(handler.report().host_calls, 3);
    }

    #[test]
    fn no_session_mismatch_and_exhaustion() {
        let handler = HostCallHandler::new(service_access(), None, false);
        let err = get_service(&handler).unwrap_err();
        assert!(err.starts_with(CALLBACK_FAILURE_PREFIX));
        assert!(err.contains("no replay session was given"));

        let handler = HostCallHandler::new(
            service_access(),
            Some(session(ExchangeResponse::Success {
                payload: "{}".into(),
            })),
            false,
        );
        let other = br#"{"api_version":"v1","kind":"Service","name":"other","namespace":"default","disable_cache":false}"#;
        let err = handler
            .handle("kubewarden", "kubernetes", "get_resource", other)
            .unwrap_err();
        assert!(err.contains("Was expecting KubernetesGetResource"), "{err}");
        assert!(err.contains("name: \"nginx\""), "{err}");
        assert!(err.contains("name: \"other\""), "{err}");

        let err = get_service(&handler).unwrap_err();
        assert!(
            err.contains("the list of recorded responses is empty"),
            "{err}"
        );
        assert_eq!(handler.report().replay_problems.len(), 2);
    }
}
