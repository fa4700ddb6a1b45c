//! The waPC host: compile once, then one fresh instance per evaluation.
//!
//! policy-server rebuilds the policy instance for every request (so the
//! guest's `wapc_init` runs each time and no state leaks between requests) and
//! stops a policy that runs past `--policy-timeout` (2 s by default) through
//! wasmtime epoch interruption. [`Evaluator`] does the same: it compiles the
//! module once and [`Evaluator::instantiate`] hands out fresh instances, while
//! a ticker thread advances the engine's epoch so a runaway guest traps.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use wapc::WapcHost;
use wasmtime_provider::wasmtime;
use wasmtime_provider::{EpochDeadlines, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre};

use crate::callbacks::{AccessPolicy, Answers, HostCallHandler};
use crate::capabilities::HostCapabilities;
use crate::guest_payload;
use crate::metadata::{read_metadata, ContextAwareResource, PolicyMetadata};
use crate::request::AdmissionRequest;
use crate::response::{AdmissionResponse, PolicyValidationResponse};
use crate::session::ReplaySession;

/// policy-server's default `--policy-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);

/// How often the engine epoch advances. Deadlines are counted in these ticks,
/// so a policy is stopped within one tick of its timeout.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The only protocol policy-server accepts from a waPC policy.
pub const SUPPORTED_PROTOCOL_VERSION: &str = "v1";

#[derive(Clone, Debug)]
pub struct EvaluatorOptions {
    /// Longest a single guest call (and `wapc_init`) may run.
    pub timeout: Duration,
    /// `--allow-context-aware`: let the policy read the Kubernetes resource
    /// types its metadata lists (plus `extra_context_aware_resources`).
    pub allow_context_aware: bool,
    /// `--context-aware-resource`: resource types granted on top of the
    /// metadata's `contextAwareResources`.
    pub extra_context_aware_resources: Vec<ContextAwareResource>,
    /// policy-server's grant: exactly these resource types (a policies.yml
    /// entry's `contextAwareResources`). When set, the metadata,
    /// `allow_context_aware` and `extra_context_aware_resources` are not
    /// consulted: policy-server reads the list from the entry alone.
    pub context_aware_allow_list: Option<Vec<ContextAwareResource>>,
    /// The host capabilities the policy may call. kwctl's
    /// `--allowed-host-capabilities` defaults to `*`; a policies.yml entry
    /// without `hostCapabilities` grants none.
    pub host_capabilities: HostCapabilities,
    /// Print the guest's `tracing/log` events on stderr.
    pub print_guest_logs: bool,
    /// Keep compiled code in this directory (wasmtime's compilation cache,
    /// keyed by module contents, compiler settings and wasmtime version), so
    /// repeated runs of the same module skip compilation.
    pub compilation_cache_dir: Option<PathBuf>,
}

impl Default for EvaluatorOptions {
    fn default() -> Self {
        EvaluatorOptions {
            timeout: DEFAULT_TIMEOUT,
            allow_context_aware: false,
            extra_context_aware_resources: Vec::new(),
            context_aware_allow_list: None,
            host_capabilities: HostCapabilities::AllowAll,
            print_guest_logs: false,
            compilation_cache_dir: None,
        }
    }
}

/// Outcome of `validate_settings`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(default)]
    pub message: Option<String>,
}

/// Outcome of one `validate` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// What kwctl would print.
    pub response: AdmissionResponse,
    /// Host calls made by the policy, `tracing/log` excluded.
    pub host_calls: usize,
    /// Replay mismatches / exhaustion met during the call (the policy saw
    /// them as host errors; they are listed here so tests can report them).
    pub replay_problems: Vec<String>,
    /// Exchanges of the replay session the policy never asked for.
    pub unused_exchanges: usize,
}

/// Advances an engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("policy-host-epoch".to_string())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .context("cannot start the epoch ticker thread")?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and ticks; it cannot panic in practice,
            // and there is nothing useful to do if it did.
            let _ = thread.join();
        }
    }
}

/// A compiled policy, ready to be instantiated any number of times.
pub struct Evaluator {
    provider_pre: WasmtimeEngineProviderPre,
    deadlines: EpochDeadlines,
    access: AccessPolicy,
    metadata: Option<PolicyMetadata>,
    print_guest_logs: bool,
    // Declared last so it stops after everything that uses the engine.
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("deadlines", &self.deadlines)
            .field("access", &self.access)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl Evaluator {
    /// Compiles `module_bytes` and reads its embedded metadata (if any).
    pub fn new(module_bytes: &[u8], options: EvaluatorOptions) -> Result<Self> {
        let metadata = read_metadata(module_bytes)?;

        let allowed_resources: std::collections::BTreeSet<(String, String)> =
            match &options.context_aware_allow_list {
                Some(list) => list
                    .iter()
                    .map(|r| (r.api_version.clone(), r.kind.clone()))
                    .collect(),
                // Mirrors kwctl: without the flag the allow list is empty.
                None if !options.allow_context_aware => Default::default(),
                None => metadata
                    .iter()
                    .flat_map(|m| m.context_aware_resources.iter())
                    .chain(options.extra_context_aware_resources.iter())
                    .map(|r| (r.api_version.clone(), r.kind.clone()))
                    .collect(),
            };
        let access = AccessPolicy {
            host_capabilities: options.host_capabilities.clone(),
            allowed_resources,
        };

        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        if let Some(directory) = &options.compilation_cache_dir {
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(directory);
            let cache = wasmtime::Cache::new(cache_config).map_err(|e| {
                anyhow!("cannot use compilation cache {}: {e}", directory.display())
            })?;
            config.cache(Some(cache));
        }
        let engine = wasmtime::Engine::new(&config)
            .map_err(|e| anyhow!("cannot create the wasmtime engine: {e}"))?;
        let module = wasmtime::Module::new(&engine, module_bytes)
            .map_err(|e| anyhow!("cannot compile the WebAssembly module: {e:#}"))?;
        let provider_pre = WasmtimeEngineProviderBuilder::new()
            .engine(engine.clone())
            .module(module)
            .build_pre()
            .map_err(|e| anyhow!("cannot link the module (is it a waPC guest?): {e}"))?;

        let ticks = options
            .timeout
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1);
        let ticks = u64::try_from(ticks).context("timeout too large")?;
        let deadlines = EpochDeadlines {
            wapc_init: ticks,
            wapc_func: ticks,
        };

        Ok(Evaluator {
            provider_pre,
            deadlines,
            access,
            metadata,
            print_guest_logs: options.print_guest_logs,
            _ticker: EpochTicker::start(engine)?,
        })
    }

    /// The metadata embedded in the module, if it was annotated.
    pub fn metadata(&self) -> Option<&PolicyMetadata> {
        self.metadata.as_ref()
    }

    /// A fresh instance: new store, new WASI context, `wapc_init` run again.
    /// Look-ups are answered from `session`.
    pub fn instantiate(&self, session: Option<ReplaySession>) -> Result<PolicyInstance> {
        self.instantiate_with(session.map(Answers::Replay))
    }

    /// A fresh instance whose look-ups are answered from `answers`: a replay
    /// session or a [`crate::cluster::ClusterState`].
    pub fn instantiate_with(&self, answers: Option<Answers>) -> Result<PolicyInstance> {
        let handler = Arc::new(HostCallHandler::with_answers(
            self.access.clone(),
            answers,
            self.print_guest_logs,
        ));
        let provider = self
            .provider_pre
            .rehydrate(Some(self.deadlines))
            .map_err(|e| anyhow!("cannot create a policy instance: {e}"))?;
        let callback_handler = Arc::clone(&handler);
        let host = WapcHost::new(
            Box::new(provider),
            Some(Box::new(
                move |_id, binding, namespace, operation, payload| {
                    callback_handler
                        .handle(binding, namespace, operation, payload)
                        .map_err(Into::into)
                },
            )),
        )
        .map_err(|e| anyhow!("cannot initialise the policy (wapc_init failed): {e}"))?;
        Ok(PolicyInstance { host, handler })
    }

    /// Asks a fresh instance for its protocol version.
    pub fn protocol_version(&self) -> Result<String> {
        self.instantiate(None)?.protocol_version()
    }

    /// Runs `validate_settings` on a fresh instance.
    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        Ok(self.instantiate(None)?.validate_settings(settings))
    }

    /// Runs `validate` on a fresh instance. `request` may be an
    /// AdmissionRequest or an AdmissionReview.
    pub fn evaluate(
        &self,
        request: &Value,
        settings: &Value,
        session: Option<ReplaySession>,
    ) -> Result<Evaluation> {
        self.evaluate_with(request, settings, session.map(Answers::Replay))
    }

    /// [`Evaluator::evaluate`] with look-ups answered from `answers`.
    pub fn evaluate_with(
        &self,
        request: &Value,
        settings: &Value,
        answers: Option<Answers>,
    ) -> Result<Evaluation> {
        let request = AdmissionRequest::from_json(request)?;
        let settings = settings_object(settings.clone())?;
        Ok(self
            .instantiate_with(answers)?
            .validate(&request, &settings))
    }
}

/// Settings as policies receive them: an object; `null` (no settings) is `{}`.
pub fn settings_object(settings: Value) -> Result<Value> {
    match settings {
        Value::Null => Ok(json!({})),
        Value::Object(_) => Ok(settings),
        other => bail!("settings must be a map (a JSON/YAML object), got {other}"),
    }
}

/// One live instance of the policy.
pub struct PolicyInstance {
    host: WapcHost,
    handler: Arc<HostCallHandler>,
}

impl std::fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl PolicyInstance {
    /// Calls `protocol_version` and checks the answer is `"v1"`.
    pub fn protocol_version(&self) -> Result<String> {
        let raw = self
            .host
            .call("protocol_version", &[])
            .map_err(|e| anyhow!("Cannot compute ProtocolVersion used by the policy: {e}"))?;
        let version: String = serde_json::from_slice(&raw).with_context(|| {
            format!(
                "Cannot compute ProtocolVersion used by the policy: unexpected answer {:?}",
                String::from_utf8_lossy(&raw)
            )
        })?;
        if version != SUPPORTED_PROTOCOL_VERSION {
            bail!("unsupported policy protocol version {version:?}: only {SUPPORTED_PROTOCOL_VERSION:?} is supported");
        }
        Ok(version)
    }

    /// Calls `validate_settings` with the settings JSON (keys sorted, as
    /// policy-evaluator writes them). A guest error or an unreadable answer
    /// counts as invalid settings, as in policy-evaluator.
    pub fn validate_settings(&self, settings: &Value) -> SettingsValidation {
        let payload = guest_payload::settings_payload(settings);
        match self.host.call("validate_settings", &payload) {
            Ok(raw) => serde_json::from_slice(&raw).unwrap_or_else(|e| SettingsValidation {
                valid: false,
                message: Some(format!(
                    "error: cannot decode the settings validation response {:?}: {e}",
                    String::from_utf8_lossy(&raw)
                )),
            }),
            Err(err) => SettingsValidation {
                valid: false,
                // policy-evaluator formats the waPC error with `{:?}` too.
                message: Some(format!(
                    "Error invoking settings validation callback: {err:?}"
                )),
            },
        }
    }

    /// Calls `validate` with `{"request": ..., "settings": ...}`, byte for
    /// byte as policy-evaluator writes it (see [`guest_payload`]), and builds
    /// the AdmissionResponse. A guest error, trap or timeout becomes
    /// policy-server's `internal server error` rejection (code 500).
    pub fn validate(&self, request: &AdmissionRequest, settings: &Value) -> Evaluation {
        self.handler.reset_counters();
        let request_value = guest_payload::request_value(request);
        let payload = guest_payload::validate_payload(&request_value, settings);
        // policy-evaluator diffs the mutated object against the object it
        // handed the guest, both parsed into key-sorted maps: the patch holds
        // the same operations in the same order as policy-server's.
        let request_object = request_value.get("object");
        let response = match self.host.call("validate", &payload) {
            Ok(raw) => serde_json::from_slice::<PolicyValidationResponse>(&raw)
                .map_err(|e| anyhow!("cannot decode the policy's validation response: {e}"))
                .and_then(|mut policy_response| {
                    policy_response.mutated_object = policy_response
                        .mutated_object
                        .take()
                        .map(guest_payload::sort_keys);
                    AdmissionResponse::from_policy_response(
                        &request.uid,
                        request_object,
                        &policy_response,
                    )
                })
                .unwrap_or_else(|e| {
                    AdmissionResponse::internal_server_error(&request.uid, &format!("{e:#}"))
                }),
            Err(err) => AdmissionResponse::internal_server_error(&request.uid, &err.to_string()),
        };
        let report = self.handler.report();
        Evaluation {
            response,
            host_calls: report.host_calls,
            replay_problems: report.replay_problems,
            unused_exchanges: report.unused_exchanges,
        }
    }
}
