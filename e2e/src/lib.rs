//! `policy-host`: an offline Kubewarden policy host for tests.
//!
//! kwctl and policy-server cannot run on every machine that builds this
//! project, so this crate evaluates the policy the way they do, with the same
//! waPC host (`wapc` + `wasmtime-provider`), the same protocol, the same
//! AdmissionResponse and JSONPatch, the same host-capability rules and kwctl's
//! replay-session format for context-aware look-ups.
//!
//! - [`host`]: compile once, fresh instance per evaluation, epoch deadline.
//! - [`callbacks`]: host calls from the guest, access control, answers.
//! - [`cluster`]: a read-only API server over a set of objects, answering
//!   look-ups in any order (the other answer source besides a replay session).
//! - [`capabilities`]: host-capability grants (`hostCapabilities`).
//! - [`guest_payload`]: the exact bytes handed to the guest.
//! - [`session`]: kwctl replay-session files.
//! - [`request`] / [`response`]: AdmissionRequest in, AdmissionResponse out.
//! - [`metadata`]: the `io.kubewarden.metadata` custom section and `annotate`.
//! - [`policies`]: a policy-server `policies.yml` entry and what it grants.
//! - [`demo`]: `policy-host demo`, the example requests printed for a person.
//! - [`cases`]: the data-driven e2e cases (`e2e/cases/*.yml`) and their runner.

pub mod callbacks;
pub mod capabilities;
pub mod cases;
pub mod cluster;
pub mod demo;
pub mod guest_payload;
pub mod host;
pub mod metadata;
pub mod policies;
pub mod request;
pub mod response;
pub mod session;

pub use callbacks::Answers;
pub use capabilities::HostCapabilities;
pub use cluster::ClusterState;
pub use host::{
    settings_object, Evaluation, Evaluator, EvaluatorOptions, PolicyInstance, SettingsValidation,
    DEFAULT_TIMEOUT,
};
pub use metadata::{ContextAwareResource, PolicyMetadata};
pub use request::AdmissionRequest;
pub use response::AdmissionResponse;
pub use session::ReplaySession;

/// Prefix of the stderr line in which `policy-host run` reports how many host
/// calls (other than `tracing/log`) the policy made: `policy-host: host-calls=N`.
pub const HOST_CALLS_STDERR_PREFIX: &str = "policy-host: host-calls=";
/// Prefix of the stderr lines reporting replay-session problems.
pub const REPLAY_PROBLEM_STDERR_PREFIX: &str = "policy-host: replay problem: ";
/// Environment variable naming a directory for wasmtime's compilation cache.
/// An environment variable rather than a flag keeps `run`'s flags exactly
/// kwctl's, so the same command lines work with both tools.
pub const CACHE_DIR_ENV: &str = "POLICY_HOST_CACHE_DIR";
#[cfg(test)]
mod tests {
    /// Benchmarks and tests may share one compiled evaluator across threads.
    #[test]
    fn evaluator_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<crate::Evaluator>();
    }
}
