//! Replay sessions: recorded host-capability exchanges, in kwctl's format.
//!
//! `kwctl run --replay-host-capabilities-interactions FILE` reads a YAML list of
//! exchanges and answers the policy's host calls from it, in order:
//!
//! ```yaml
//! - type: Exchange
//!   request: |
//!     !KubernetesGetResource
//!     api_version: v1
//!     kind: Service
//!     name: nginx
//!     namespace: default
//!     disable_cache: false
//!   response:
//!     type: Success
//!     payload: '{"apiVersion":"v1","kind":"Service",...}'
//! ```
//!
//! `request` is itself a YAML document (a string): kwctl writes it with
//! `serde_yaml::to_string` of its `CallbackRequestType` enum, whose variant
//! becomes the `!Tag`. This module parses the same shape into [`HostRequest`]
//! so recorded and live requests are compared structurally, not textually.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

/// A Kubernetes host-capability request, named and shaped like the variants of
/// policy-evaluator's `CallbackRequestType` that a replay session can hold.
///
/// `Debug` output deliberately looks like kwctl's (`KubernetesGetResource {
/// api_version: "v1", ... }`) because replay errors print requests with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostRequest {
    KubernetesGetResource {
        api_version: String,
        kind: String,
        name: String,
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        disable_cache: bool,
        /// Older recordings have no `field_masks`: absent means `None`.
        #[serde(default)]
        field_masks: Option<BTreeSet<String>>,
    },
    KubernetesListResourceNamespace {
        api_version: String,
        kind: String,
        namespace: String,
        #[serde(default)]
        label_selector: Option<String>,
        #[serde(default)]
        field_selector: Option<String>,
        #[serde(default)]
        field_masks: Option<BTreeSet<String>>,
    },
    KubernetesListResourceAll {
        api_version: String,
        kind: String,
        #[serde(default)]
        label_selector: Option<String>,
        #[serde(default)]
        field_selector: Option<String>,
        #[serde(default)]
        field_masks: Option<BTreeSet<String>>,
    },
    KubernetesCanI {
        /// Compared after dropping `null` members on both sides, because the
        /// SDK sends every optional field while a hand-written session would
        /// rather leave them out.
        subject_access_review: serde_json::Value,
        #[serde(default)]
        disable_cache: bool,
    },
}

impl HostRequest {
    /// The `(apiVersion, kind)` a request reads, for the access check.
    /// `can_i` reads no resource type.
    pub fn resource_type(&self) -> Option<(&str, &str)> {
        match self {
            HostRequest::KubernetesGetResource {
                api_version, kind, ..
            }
            | HostRequest::KubernetesListResourceNamespace {
                api_version, kind, ..
            }
            | HostRequest::KubernetesListResourceAll {
                api_version, kind, ..
            } => Some((api_version, kind)),
            HostRequest::KubernetesCanI { .. } => None,
        }
    }

    /// Structural equality as kwctl's replay applies it, with `can_i`
    /// reviews compared after removing `null` members.
    pub fn matches(&self, other: &HostRequest) -> bool {
        match (self, other) {
            (
                HostRequest::KubernetesCanI {
                    subject_access_review: left,
                    disable_cache: left_cache,
                },
                HostRequest::KubernetesCanI {
                    subject_access_review: right,
                    disable_cache: right_cache,
                },
            ) => left_cache == right_cache && without_nulls(left) == without_nulls(right),
            _ => self == other,
        }
    }
}

fn without_nulls(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(without_nulls).collect())
        }
        other => other.clone(),
    }
}

/// What the recorded host answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ExchangeResponse {
    /// `payload` is the exact byte string handed back to the guest (JSON text).
    Success { payload: String },
    /// The host call failed with this message.
    Error { message: String },
}

/// One recorded request/response pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub request: HostRequest,
    pub response: ExchangeResponse,
}

impl Exchange {
    /// A `kubernetes/list_resources_all` call for every `kind` object
    /// (no selectors, no field masks), answered with `list`: the shape of the
    /// policy's StorageClass look-up, for sessions built in code.
    pub fn list_all_answered(api_version: &str, kind: &str, list: &serde_json::Value) -> Exchange {
        Exchange {
            request: HostRequest::KubernetesListResourceAll {
                api_version: api_version.into(),
                kind: kind.into(),
                label_selector: None,
                field_selector: None,
                field_masks: None,
            },
            response: ExchangeResponse::Success {
                payload: list.to_string(),
            },
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} -> {:?}", self.request, self.response)
    }
}

/// The on-disk entry. kwctl serialises its `Exchange` struct with
/// `#[serde(tag = "type")]`, which writes `type: Exchange`; a one-variant
/// enum reproduces and checks that tag.
#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum SessionEntry {
    Exchange {
        request: String,
        response: ExchangeResponse,
    },
}

/// A replay session: the exchanges still to be consumed, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplaySession {
    exchanges: VecDeque<Exchange>,
}

impl ReplaySession {
    pub fn new(exchanges: impl IntoIterator<Item = Exchange>) -> Self {
        ReplaySession {
            exchanges: exchanges.into_iter().collect(),
        }
    }

    /// Reads a session file. Every request is parsed now, so a malformed
    /// session is reported before the policy runs rather than mid-evaluation.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read replay session {}", path.display()))?;
        Self::from_yaml_str(&text)
            .with_context(|| format!("invalid replay session {}", path.display()))
    }

    pub fn from_yaml_str(text: &str) -> Result<Self> {
        // An empty file is an empty session (kwctl would fail to parse it;
        // accepting it costs nothing and reads naturally).
        if text.trim().is_empty() {
            return Ok(ReplaySession::default());
        }
        let entries: Vec<SessionEntry> = serde_yaml::from_str(text)
            .context("expected a YAML list of `type: Exchange` entries")?;
        let exchanges = entries
            .into_iter()
            .enumerate()
            .map(|(index, SessionEntry::Exchange { request, response })| {
                let request = parse_request(&request)
                    .with_context(|| format!("exchange #{} has an unusable request", index + 1))?;
                Ok(Exchange { request, response })
            })
            .collect::<Result<VecDeque<_>>>()?;
        Ok(ReplaySession { exchanges })
    }

    /// Takes the next exchange, if any.
    pub fn next_exchange(&mut self) -> Option<Exchange> {
        self.exchanges.pop_front()
    }

    /// The exchanges still to be consumed, in order.
    pub fn into_exchanges(self) -> VecDeque<Exchange> {
        self.exchanges
    }

    pub fn remaining(&self) -> usize {
        self.exchanges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty()
    }
}

const SUPPORTED_TAGS: &[&str] = &[
    "KubernetesGetResource",
    "KubernetesListResourceNamespace",
    "KubernetesListResourceAll",
    "KubernetesCanI",
];

fn parse_request(text: &str) -> Result<HostRequest> {
    let document: serde_yaml::Value =
        serde_yaml::from_str(text).context("the request is not valid YAML")?;
    let serde_yaml::Value::Tagged(tagged) = &document else {
        bail!("the request must start with a tag such as `!KubernetesGetResource`");
    };
    let tag = tagged.tag.to_string();
    let name = tag.trim_start_matches('!');
    if !SUPPORTED_TAGS.contains(&name) {
        return Err(anyhow!(
            "unsupported request type `{tag}`: policy-host replays only {}",
            SUPPORTED_TAGS
                .iter()
                .map(|t| format!("!{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    serde_yaml::from_value(document).with_context(|| format!("cannot read the `{tag}` request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = r#"
- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: v1
    kind: Service
    name: nginx
    namespace: default
    disable_cache: false
  response:
    type: Success
    payload: '{"kind":"Service"}'
- type: Exchange
  request: |
    !KubernetesListResourceAll
    api_version: storage.k8s.io/v1
    kind: StorageClass
    label_selector: null
    field_selector: null
  response:
    type: Error
    message: 'the server is unavailable'
"#;

    #[test]
    fn parses_kwctl_sessions_in_order() {
        let mut session = ReplaySession::from_yaml_str(SESSION).unwrap();
        assert_eq!(session.remaining(), 2);
        let first = session.next_exchange().unwrap();
        assert_eq!(
            first.request,
            HostRequest::KubernetesGetResource {
                api_version: "v1".into(),
                kind: "Service".into(),
                name: "nginx".into(),
                namespace: Some("default".into()),
                disable_cache: false,
                field_masks: None,
            }
        );
        assert_eq!(
            first.response,
            ExchangeResponse::Success {
                payload: r#"{"kind":"Service"}"#.into()
            }
        );
        let second = session.next_exchange().unwrap();
        assert_eq!(
            second.response,
            ExchangeResponse::Error {
                message: "the server is unavailable".into()
            }
        );
        assert!(session.next_exchange().is_none());
    }

    #[test]
    fn omitted_field_masks_equal_null() {
        let session = ReplaySession::from_yaml_str(SESSION).unwrap();
        let recorded = &session.exchanges[0].request;
        let live: HostRequest = serde_json::from_value(serde_json::json!({
            "KubernetesGetResource": {
                "api_version": "v1", "kind": "Service", "name": "nginx",
                "namespace": "default", "disable_cache": false, "field_masks": null
            }
        }))
        .unwrap();
        assert!(recorded.matches(&live));
    }

    #[test]
    fn rejects_unsupported_tags_and_bad_entries() {
        let err = ReplaySession::from_yaml_str(
            "- type: Exchange\n  request: |\n    !DNSLookupHost\n    host: example.com\n  response:\n    type: Success\n    payload: '[]'\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("unsupported request type `!DNSLookupHost`"));

        let err = ReplaySession::from_yaml_str("- type: Nope\n").unwrap_err();
        assert!(format!("{err:#}").contains("type: Exchange"));

        let err = ReplaySession::from_yaml_str(
            "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    kind: Service\n  response:\n    type: Success\n    payload: '{}'\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("exchange #1"));
    }

    #[test]
    fn can_i_ignores_null_members() {
        let recorded = HostRequest::KubernetesCanI {
            subject_access_review: serde_json::json!({"user": "alice", "resource_attributes": {"verb": "get", "resource": "pods"}}),
            disable_cache: false,
        };
        let live = HostRequest::KubernetesCanI {
            subject_access_review: serde_json::json!({"user": "alice", "groups": null, "resource_attributes": {"verb": "get", "resource": "pods", "name": null}}),
            disable_cache: false,
        };
        assert!(recorded.matches(&live));
    }
}
