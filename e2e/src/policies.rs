//! A policy-server `policies.yml` entry, read and applied as policy-server
//! 1.35 does, so `policy-host run --policies FILE --policy-id ID` grants
//! exactly what a standalone policy-server would grant.
//!
//! From the entry (policy-server `config.rs`, `PolicyOrPolicyGroup::Policy`,
//! camelCase keys; `evaluation_environment.rs` for the defaults):
//!
//! | key | effect | when absent |
//! |---|---|---|
//! | `module` | where policy-server fetches the module; policy-host runs the MODULE argument instead | required |
//! | `settings` | the policy's settings | `{}` (also for `null`) |
//! | `contextAwareResources` | the only `(apiVersion, kind)` the policy may read; the module metadata is not consulted | none |
//! | `hostCapabilities` | the host capabilities the policy may call | none: every look-up is refused |
//! | `allowedToMutate` | whether a patch may be returned | `false` |
//! | `policyMode` | `protect`, or `monitor` (accept everything, no patch) | `protect` |
//! | `timeoutEvalSeconds` | evaluation deadline | policy-host's `--timeout-ms` |
//!
//! `message` (a custom rejection message) and policy groups (`policies`,
//! `expression`) are refused: policy-host does not implement them. Other keys
//! are ignored by policy-server; policy-host ignores them too but names them,
//! because a misspelt `hostCapabilities` silently grants nothing.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::capabilities::HostCapabilities;
use crate::metadata::ContextAwareResource;
use crate::response::{AdmissionResponse, AdmissionResponseStatus};

/// `policyMode` of an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PolicyMode {
    #[default]
    Protect,
    Monitor,
}

/// The keys of an individual policy's entry policy-server reads.
const KNOWN_KEYS: [&str; 8] = [
    "module",
    "policyMode",
    "allowedToMutate",
    "settings",
    "contextAwareResources",
    "hostCapabilities",
    "message",
    "timeoutEvalSeconds",
];

/// One individual policy of a policies.yml file.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyServerEntry {
    /// The name of the entry (policy-server serves it at `/validate/<id>`).
    pub id: String,
    pub module: String,
    pub policy_mode: PolicyMode,
    pub allowed_to_mutate: bool,
    /// Always an object.
    pub settings: Value,
    pub context_aware_resources: Vec<ContextAwareResource>,
    pub host_capabilities: HostCapabilities,
    pub timeout: Option<Duration>,
    /// Keys policy-server does not read (reported, not applied).
    pub ignored_keys: Vec<String>,
}

impl PolicyServerEntry {
    /// Reads entry `id` of the policies.yml file at `path`.
    pub fn from_path(path: &Path, id: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policies file {}", path.display()))?;
        Self::from_yaml_str(&text, id).with_context(|| format!("policies file {}", path.display()))
    }

    /// Reads entry `id` of a policies.yml document.
    pub fn from_yaml_str(text: &str, id: &str) -> Result<Self> {
        let document: Value =
            serde_yaml::from_str(text).context("the policies file is not valid YAML")?;
        let policies = document
            .as_object()
            .ok_or_else(|| anyhow!("the policies file must map policy names to entries"))?;
        let entry = policies.get(id).ok_or_else(|| {
            let names: Vec<&str> = policies.keys().map(String::as_str).collect();
            anyhow!(
                "no policy named {id:?}; the file defines: {}",
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            )
        })?;
        Self::from_entry(id, entry).with_context(|| format!("policy {id:?}"))
    }

    fn from_entry(id: &str, entry: &Value) -> Result<Self> {
        let entry = entry
            .as_object()
            .ok_or_else(|| anyhow!("the entry must be a mapping, got {entry}"))?;
        if entry.contains_key("policies") || entry.contains_key("expression") {
            bail!("policy groups (`policies`, `expression`) are not supported by policy-host");
        }
        if entry.contains_key("message") {
            bail!("a custom rejection `message` is not supported by policy-host");
        }
        let module = entry
            .get("module")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("`module` is missing or not a string"))?
            .to_string();
        let policy_mode = match entry.get("policyMode") {
            None | Some(Value::Null) => PolicyMode::Protect,
            Some(Value::String(mode)) if mode == "protect" => PolicyMode::Protect,
            Some(Value::String(mode)) if mode == "monitor" => PolicyMode::Monitor,
            Some(other) => bail!("`policyMode` must be `protect` or `monitor`, got {other}"),
        };
        let allowed_to_mutate = match entry.get("allowedToMutate") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(allowed)) => *allowed,
            Some(other) => bail!("`allowedToMutate` must be a boolean, got {other}"),
        };
        let settings = match entry.get("settings") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(settings @ Value::Object(_)) => settings.clone(),
            Some(other) => bail!("`settings` must be a mapping, got {other}"),
        };
        let context_aware_resources = match entry.get("contextAwareResources") {
            None | Some(Value::Null) => Vec::new(),
            Some(list) => serde_json::from_value(list.clone()).map_err(|e| {
                anyhow!("`contextAwareResources` must be a list of {{apiVersion, kind}}: {e}")
            })?,
        };
        let host_capabilities = match entry.get("hostCapabilities") {
            None | Some(Value::Null) => HostCapabilities::DenyAll,
            Some(Value::Array(items)) => {
                let patterns = items
                    .iter()
                    .map(|item| {
                        item.as_str().ok_or_else(|| {
                            anyhow!("`hostCapabilities` must list strings, got {item}")
                        })
                    })
                    .collect::<Result<Vec<&str>>>()?;
                HostCapabilities::parse(patterns).context("`hostCapabilities`")?
            }
            Some(other) => bail!("`hostCapabilities` must be a list, got {other}"),
        };
        let timeout = match entry.get("timeoutEvalSeconds") {
            None | Some(Value::Null) => None,
            Some(seconds) => Some(Duration::from_secs(seconds.as_u64().ok_or_else(|| {
                anyhow!("`timeoutEvalSeconds` must be a whole number of seconds, got {seconds}")
            })?)),
        };
        let ignored_keys = entry
            .keys()
            .filter(|key| !KNOWN_KEYS.contains(&key.as_str()))
            .cloned()
            .collect();
        Ok(PolicyServerEntry {
            id: id.to_string(),
            module,
            policy_mode,
            allowed_to_mutate,
            settings,
            context_aware_resources,
            host_capabilities,
            timeout,
            ignored_keys,
        })
    }

    /// policy-server's post-processing of the policy's answer
    /// (policy-evaluator `AdmissionResponseHandler::process_response`): in
    /// monitor mode every request is accepted without patch or status; in
    /// protect mode a patch from a policy not allowed to mutate turns the
    /// answer into a rejection.
    pub fn apply_to(&self, response: AdmissionResponse) -> AdmissionResponse {
        match self.policy_mode {
            PolicyMode::Monitor => AdmissionResponse {
                allowed: true,
                patch_type: None,
                patch: None,
                status: None,
                ..response
            },
            PolicyMode::Protect if !self.allowed_to_mutate && response.patch.is_some() => {
                AdmissionResponse {
                    allowed: false,
                    status: Some(AdmissionResponseStatus {
                        message: Some(format!(
                            "Request rejected by policy {}. The policy attempted to mutate the request, but it is currently configured to not allow mutations.",
                            self.id
                        )),
                        code: None,
                    }),
                    patch: None,
                    patch_type: None,
                    ..response
                }
            }
            PolicyMode::Protect => response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"
shipped:
  module: registry://127.0.0.1:5000/statefulset-policy:v0.1.0
  policyMode: protect
  allowedToMutate: true
  contextAwareResources:
    - apiVersion: v1
      kind: Service
  hostCapabilities:
    - kubernetes/get_resource
  settings:
    lookupFailure: warn
bare:
  module: file:///tmp/policy.wasm
typo:
  module: file:///tmp/policy.wasm
  hostCapabilites: ["*"]
"#;

    #[test]
    fn reads_every_key_of_an_entry() {
        let entry = PolicyServerEntry::from_yaml_str(FILE, "shipped").unwrap();
        assert_eq!(entry.id, "shipped");
        assert_eq!(entry.policy_mode, PolicyMode::Protect);
        assert!(entry.allowed_to_mutate);
        assert_eq!(entry.settings, json!({"lookupFailure": "warn"}));
        assert_eq!(
            entry.context_aware_resources,
            vec![ContextAwareResource {
                api_version: "v1".into(),
                kind: "Service".into()
            }]
        );
        assert!(entry.host_capabilities.allows("kubernetes/get_resource"));
        assert!(!entry
            .host_capabilities
            .allows("kubernetes/list_resources_all"));
        assert!(entry.ignored_keys.is_empty());
    }

    #[test]
    fn absent_keys_take_policy_server_defaults() {
        let entry = PolicyServerEntry::from_yaml_str(FILE, "bare").unwrap();
        assert_eq!(entry.policy_mode, PolicyMode::Protect);
        assert!(
            !entry.allowed_to_mutate,
            "allowedToMutate defaults to false"
        );
        assert_eq!(entry.settings, json!({}));
        assert!(entry.context_aware_resources.is_empty());
        assert_eq!(entry.host_capabilities, HostCapabilities::DenyAll);
        assert_eq!(entry.timeout, None);
    }

    #[test]
    fn misspelt_keys_are_named_and_grant_nothing() {
        let entry = PolicyServerEntry::from_yaml_str(FILE, "typo").unwrap();
        assert_eq!(entry.ignored_keys, vec!["hostCapabilites".to_string()]);
        assert_eq!(entry.host_capabilities, HostCapabilities::DenyAll);
    }

    #[test]
    fn bad_entries_are_clear_errors() {
        let missing = PolicyServerEntry::from_yaml_str(FILE, "nope").unwrap_err();
        assert!(
            format!("{missing:#}")
                .contains("no policy named \"nope\"; the file defines: bare, shipped, typo"),
            "{missing:#}"
        );
        for (yaml, reason) in [
            (
                "p: {module: m, hostCapabilities: [kubernetes/get_resources]}",
                "unknown host capability",
            ),
            (
                "p: {module: m, hostCapabilities: kubernetes/get_resource}",
                "must be a list",
            ),
            ("p: {module: m, hostCapabilities: [1]}", "must list strings"),
            (
                "p: {module: m, policyMode: enforce}",
                "`policyMode` must be",
            ),
            (
                "p: {module: m, allowedToMutate: 'yes'}",
                "must be a boolean",
            ),
            (
                "p: {module: m, settings: [1]}",
                "`settings` must be a mapping",
            ),
            (
                "p: {module: m, contextAwareResources: [v1/Service]}",
                "contextAwareResources",
            ),
            (
                "p: {module: m, timeoutEvalSeconds: -1}",
                "whole number of seconds",
            ),
            ("p: {module: m, message: no}", "custom rejection `message`"),
            (
                "p: {expression: 'a()', message: m, policies: {}}",
                "policy groups",
            ),
            ("p: {settings: {}}", "`module` is missing"),
            ("p: [1]", "must be a mapping"),
            ("[1]", "must map policy names"),
            ("p: {module: [", "not valid YAML"),
        ] {
            let error = PolicyServerEntry::from_yaml_str(yaml, "p").unwrap_err();
            assert!(format!("{error:#}").contains(reason), "{yaml}: {error:#}");
        }
    }

    fn entry(mode: PolicyMode, allowed_to_mutate: bool) -> PolicyServerEntry {
        PolicyServerEntry {
            policy_mode: mode,
            allowed_to_mutate,
            ..PolicyServerEntry::from_yaml_str(FILE, "bare").unwrap()
        }
    }

    fn patched() -> AdmissionResponse {
        AdmissionResponse {
            uid: "u".into(),
            allowed: true,
            patch_type: Some("JSONPatch".into()),
            patch: Some("W10=".into()),
            warnings: Some(vec!["w".into()]),
            ..AdmissionResponse::default()
        }
    }

    #[test]
    fn a_patch_without_allowed_to_mutate_is_a_rejection() {
        let response = entry(PolicyMode::Protect, false).apply_to(patched());
        assert!(!response.allowed);
        assert!(response.patch.is_none() && response.patch_type.is_none());
        assert_eq!(
            response.status.unwrap().message.unwrap(),
            "Request rejected by policy bare. The policy attempted to mutate the request, but it is currently configured to not allow mutations."
        );
        assert_eq!(response.warnings, Some(vec!["w".into()]));
        assert_eq!(
            entry(PolicyMode::Protect, true).apply_to(patched()),
            patched()
        );
    }

    #[test]
    fn monitor_mode_accepts_without_patch_or_status() {
        let rejected = AdmissionResponse::internal_server_error("u", "boom");
        let response = entry(PolicyMode::Monitor, false).apply_to(rejected);
        assert!(response.allowed);
        assert!(response.status.is_none());
        let response = entry(PolicyMode::Monitor, true).apply_to(patched());
        assert!(response.allowed && response.patch.is_none() && response.patch_type.is_none());
    }
}
