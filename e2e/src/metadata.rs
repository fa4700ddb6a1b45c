//! Policy metadata: the `io.kubewarden.metadata` wasm custom section, and
//! `annotate` (what `kwctl annotate` does).
//!
//! A wasm custom section is: id `0`, the LEB128 size of the rest, the LEB128
//! length of the name, the name, then the payload. Kubewarden stores the
//! metadata there as JSON, serialised from policy-evaluator's `Metadata`
//! struct; [`PolicyMetadata`] reproduces its member names and defaults:
//!
//! | member                     | when absent in metadata.yml      | written          |
//! |----------------------------|----------------------------------|------------------|
//! | `protocolVersion`          | set by annotate from the module  | always           |
//! | `rules`                    | required                         | always           |
//! | `annotations`              | none                             | only when present|
//! | `mutating`                 | required                         | always           |
//! | `backgroundAudit`          | `true`                           | always           |
//! | `executionMode`            | `kubewarden-wapc`                | always           |
//! | `policyType`               | `kubernetes`                     | always           |
//! | `contextAwareResources`    | `[]` (sorted by apiVersion, kind)| always           |
//! | `minimumKubewardenVersion` | none                             | only when present|
//!
//! Other top-level members (for instance `hostCapabilities`) are kept as
//! given, after the known ones. Older policy-evaluator `Metadata` structs would
//! silently drop them; keeping them loses nothing, because policy-server
//! ignores members it does not know.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Name of the custom section holding the metadata JSON.
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";
/// Annotation holding the policy's README.
pub const ANNOTATION_USAGE: &str = "io.kubewarden.policy.usage";
/// Annotation in which kwctl records its own version when it annotates.
pub const ANNOTATION_KWCTL_VERSION: &str = "io.kubewarden.kwctl";
/// Annotation in which policy-host records that it annotated the module.
///
/// kwctl stamps `io.kubewarden.kwctl: <kwctl version>`. policy-host is not
/// kwctl, so writing that key would be a false claim about the module's
/// provenance; it records the same fact (tool and version) under its own key
/// instead, and removes an `io.kubewarden.kwctl` value copied into
/// metadata.yml for the same reason. Annotating with real kwctl later puts
/// kwctl's stamp back.
pub const ANNOTATION_ANNOTATED_BY: &str = "policy-host/annotated-by";

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CUSTOM_SECTION_ID: u8 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    #[serde(rename = "CREATE")]
    Create,
    #[serde(rename = "UPDATE")]
    Update,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "CONNECT")]
    Connect,
    #[serde(rename = "*")]
    All,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub operations: Vec<Operation>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionMode {
    #[default]
    #[serde(rename = "kubewarden-wapc")]
    KubewardenWapc,
    #[serde(rename = "opa")]
    Opa,
    #[serde(rename = "gatekeeper")]
    OpaGatekeeper,
    #[serde(rename = "wasi")]
    Wasi,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyType {
    #[default]
    #[serde(rename = "kubernetes")]
    Kubernetes,
    #[serde(rename = "raw")]
    Raw,
}

fn default_true() -> bool {
    true
}

/// The policy metadata, as stored in the custom section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMetadata {
    #[serde(default)]
    pub protocol_version: Option<String>,
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    pub mutating: bool,
    #[serde(default = "default_true")]
    pub background_audit: bool,
    #[serde(default)]
    pub execution_mode: ExecutionMode,
    #[serde(default)]
    pub policy_type: PolicyType,
    #[serde(default)]
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_kubewarden_version: Option<String>,
    /// Members policy-host does not model, kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

impl PolicyMetadata {
    /// Reads a metadata.yml (YAML or JSON).
    pub fn from_yaml_str(text: &str) -> Result<Self> {
        // Through serde_json::Value so `other` keeps plain JSON values.
        let value: Value = serde_yaml::from_str(text).context("metadata is not valid YAML")?;
        serde_json::from_value(value).context("metadata does not have the expected shape")
    }

    /// Checks what policy-evaluator's `Metadata::validate` checks, plus the
    /// shape of `minimumKubewardenVersion`.
    pub fn validate(&self) -> Result<()> {
        for (index, rule) in self.rules.iter().enumerate() {
            validate_rule(rule).with_context(|| format!("rules[{index}] is invalid"))?;
        }
        if self.execution_mode == ExecutionMode::KubewardenWapc {
            match self.protocol_version.as_deref() {
                Some("v1") => {}
                Some(other) => {
                    bail!("Must specify a valid protocol version (got {other:?}, expected \"v1\")")
                }
                None => bail!("protocolVersion is required"),
            }
        }
        for resource in &self.context_aware_resources {
            ensure!(
                !resource.api_version.is_empty() && !resource.kind.is_empty(),
                "contextAwareResources entries need a non-empty apiVersion and kind"
            );
        }
        if let Some(version) = &self.minimum_kubewarden_version {
            ensure!(
                is_semver(version),
                "minimumKubewardenVersion {version:?} is not a semantic version (x.y.z)"
            );
        }
        Ok(())
    }

    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).context("cannot serialize metadata")
    }
}

fn validate_rule(rule: &Rule) -> Result<()> {
    for (field, values) in [
        ("apiGroups", &rule.api_groups),
        ("apiVersions", &rule.api_versions),
        ("resources", &rule.resources),
    ] {
        ensure!(!values.is_empty(), "{field} must not be empty");
        if field != "resources" {
            ensure!(
                !(values.len() > 1 && values.iter().any(|v| v == "*")),
                "{field}: no other elements can be defined when '*' is used"
            );
        }
    }
    ensure!(!rule.operations.is_empty(), "operations must not be empty");
    ensure!(
        !(rule.operations.len() > 1 && rule.operations.contains(&Operation::All)),
        "operations: no other elements can be defined when '*' is used"
    );
    ensure!(
        rule.resources.iter().all(|r| !r.is_empty()),
        "resources: empty resource is not allowed"
    );
    ensure!(
        !(rule.resources.len() > 1 && rule.resources.iter().any(|r| r == "*/*")),
        "resources: if '*/*' is present, must not specify other resources"
    );
    ensure!(
        !(rule.resources.iter().any(|r| r == "*")
            && rule.resources.iter().any(|r| r != "*" && !r.contains('/'))),
        "resources: if '*' is present, must not specify other resources without subresources"
    );
    Ok(())
}

fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A section of a wasm module, located in the module's bytes.
struct Section {
    id: u8,
    /// The whole section, header included.
    whole: std::ops::Range<usize>,
    /// The section contents after the size.
    contents: std::ops::Range<usize>,
}

fn read_leb128_u32(bytes: &[u8], position: &mut usize) -> Result<u32> {
    let mut result: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes
            .get(*position)
            .ok_or_else(|| anyhow!("truncated LEB128 number at offset {}", *position))?;
        *position += 1;
        result |= u32::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or_else(|| anyhow!("LEB128 number too large"))?;
        if byte & 0x80 == 0 {
            return Ok(result);
        }
    }
    bail!("LEB128 number longer than 5 bytes")
}

fn write_leb128_u32(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn sections(module: &[u8]) -> Result<Vec<Section>> {
    ensure!(
        module.len() >= 8 && &module[..4] == WASM_MAGIC,
        "not a WebAssembly module (bad magic number)"
    );
    ensure!(
        module[4..8] == [1, 0, 0, 0],
        "unsupported WebAssembly binary version (only version 1 modules are supported)"
    );
    let mut position = 8;
    let mut found = Vec::new();
    while position < module.len() {
        let start = position;
        let id = module[position];
        position += 1;
        let size = read_leb128_u32(module, &mut position)? as usize;
        let end = position
            .checked_add(size)
            .filter(|end| *end <= module.len())
            .ok_or_else(|| anyhow!("section at offset {start} runs past the end of the module"))?;
        found.push(Section {
            id,
            whole: start..end,
            contents: position..end,
        });
        position = end;
    }
    Ok(found)
}

/// The name and payload of a custom section.
fn custom_section_parts<'a>(module: &'a [u8], section: &Section) -> Result<(&'a str, &'a [u8])> {
    let contents = &module[section.contents.clone()];
    let mut position = 0;
    let name_len = read_leb128_u32(contents, &mut position)? as usize;
    let name_end = position
        .checked_add(name_len)
        .filter(|end| *end <= contents.len())
        .ok_or_else(|| anyhow!("custom section name runs past the section"))?;
    let name = std::str::from_utf8(&contents[position..name_end])
        .context("custom section name is not UTF-8")?;
    Ok((name, &contents[name_end..]))
}

/// The payload of the first custom section called `name`, if any.
pub fn read_custom_section<'a>(module: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    for section in sections(module)? {
        if section.id == CUSTOM_SECTION_ID {
            let (section_name, payload) = custom_section_parts(module, &section)?;
            if section_name == name {
                return Ok(Some(payload));
            }
        }
    }
    Ok(None)
}

/// A copy of `module` without any custom section called `name` and with a
/// new one holding `payload`, appended at the end.
pub fn write_custom_section(module: &[u8], name: &str, payload: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(module.len() + payload.len() + name.len() + 16);
    out.extend_from_slice(&module[..8.min(module.len())]);
    for section in sections(module)? {
        if section.id == CUSTOM_SECTION_ID && custom_section_parts(module, &section)?.0 == name {
            continue;
        }
        out.extend_from_slice(&module[section.whole.clone()]);
    }
    let name_len = u32::try_from(name.len()).context("section name too long")?;
    let mut contents = Vec::with_capacity(name.len() + payload.len() + 5);
    write_leb128_u32(name_len, &mut contents);
    contents.extend_from_slice(name.as_bytes());
    contents.extend_from_slice(payload);
    out.push(CUSTOM_SECTION_ID);
    write_leb128_u32(
        u32::try_from(contents.len()).context("custom section too large")?,
        &mut out,
    );
    out.extend_from_slice(&contents);
    Ok(out)
}

/// The raw metadata JSON embedded in a module, if any.
pub fn read_metadata_json(module: &[u8]) -> Result<Option<Value>> {
    read_custom_section(module, METADATA_SECTION)?
        .map(|payload| {
            serde_json::from_slice(payload)
                .with_context(|| format!("the {METADATA_SECTION} custom section is not valid JSON"))
        })
        .transpose()
}

/// The metadata embedded in a module, if any.
pub fn read_metadata(module: &[u8]) -> Result<Option<PolicyMetadata>> {
    read_custom_section(module, METADATA_SECTION)?
        .map(|payload| {
            serde_json::from_slice(payload).with_context(|| {
                format!("the {METADATA_SECTION} custom section does not hold valid policy metadata")
            })
        })
        .transpose()
}

/// What `annotate` needs besides the module.
pub struct AnnotateInput<'a> {
    /// metadata.yml text.
    pub metadata_yaml: &'a str,
    /// README text for `io.kubewarden.policy.usage`.
    pub usage: Option<&'a str>,
    /// The `protocol_version` the module answers (kwctl asks the module).
    pub protocol_version: String,
}

/// Builds the final metadata and returns the annotated module with it.
pub fn annotate(module: &[u8], input: AnnotateInput<'_>) -> Result<(Vec<u8>, PolicyMetadata)> {
    let mut metadata = PolicyMetadata::from_yaml_str(input.metadata_yaml)?;
    metadata.protocol_version = Some(input.protocol_version);
    let annotations = metadata.annotations.get_or_insert_with(BTreeMap::new);
    if let Some(usage) = input.usage {
        annotations.insert(ANNOTATION_USAGE.to_string(), usage.to_string());
    }
    annotations.remove(ANNOTATION_KWCTL_VERSION);
    annotations.insert(
        ANNOTATION_ANNOTATED_BY.to_string(),
        format!("policy-host {}", env!("CARGO_PKG_VERSION")),
    );
    metadata.validate().context("Metadata is invalid")?;
    let annotated = write_custom_section(module, METADATA_SECTION, &metadata.to_json()?)?;
    Ok((annotated, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module)` with one type section, as a stand-in module.
    fn tiny_module() -> Vec<u8> {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type section: one `() -> ()`
        module
    }

    const METADATA: &str = r#"
rules:
- apiGroups: ["apps"]
  apiVersions: ["v1"]
  resources: ["statefulsets"]
  operations: ["CREATE", "UPDATE"]
mutating: true
contextAwareResources:
- apiVersion: v1
  kind: Service
- apiVersion: storage.k8s.io/v1
  kind: StorageClass
hostCapabilities:
- kubernetes/get_resource
annotations:
  io.kubewarden.policy.title: statefulset-policy
  io.kubewarden.kwctl: 1.0.0
"#;

    #[test]
    fn leb128_round_trip() {
        for value in [0u32, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut bytes = Vec::new();
            write_leb128_u32(value, &mut bytes);
            let mut position = 0;
            assert_eq!(read_leb128_u32(&bytes, &mut position).unwrap(), value);
            assert_eq!(position, bytes.len());
        }
    }

    #[test]
    fn annotate_round_trip_and_replace() {
        let (annotated, metadata) = annotate(
            &tiny_module(),
            AnnotateInput {
                metadata_yaml: METADATA,
                usage: Some("# Usage"),
                protocol_version: "v1".into(),
            },
        )
        .unwrap();
        assert_eq!(read_metadata(&annotated).unwrap(), Some(metadata.clone()));
        // Members in the order kwctl writes them: read from the section's
        // text, since a parsed serde_json::Value sorts its keys.
        let text = String::from_utf8(
            read_custom_section(&annotated, METADATA_SECTION)
                .unwrap()
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        let order = [
            "protocolVersion",
            "rules",
            "annotations",
            "mutating",
            "backgroundAudit",
            "executionMode",
            "policyType",
            "contextAwareResources",
            "hostCapabilities",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|key| text.find(&format!("\"{key}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
        assert_eq!(json.as_object().unwrap().len(), order.len(), "{text}");
        assert_eq!(json["executionMode"], "kubewarden-wapc");
        assert_eq!(json["backgroundAudit"], true);
        assert_eq!(json["annotations"][ANNOTATION_USAGE], "# Usage");
        assert!(json["annotations"].get(ANNOTATION_KWCTL_VERSION).is_none());
        assert!(json["annotations"][ANNOTATION_ANNOTATED_BY]
            .as_str()
            .unwrap()
            .starts_with("policy-host "));

        // Annotating again replaces the section instead of adding a second one.
        let (again, _) = annotate(
            &annotated,
            AnnotateInput {
                metadata_yaml: "rules: []\nmutating: false\n",
                usage: None,
                protocol_version: "v1".into(),
            },
        )
        .unwrap();
        let count = sections(&again)
            .unwrap()
            .iter()
            .filter(|s| s.id == 0 && custom_section_parts(&again, s).unwrap().0 == METADATA_SECTION)
            .count();
        assert_eq!(count, 1);
        assert!(!read_metadata(&again).unwrap().unwrap().mutating);
        assert!(
            again.starts_with(&tiny_module()),
            "other sections are kept as they were"
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(sections(b"not wasm").is_err());
        let mut truncated = tiny_module();
        truncated.truncate(truncated.len() - 1);
        assert!(sections(&truncated).is_err());

        let err = annotate(
            &tiny_module(),
            AnnotateInput {
                metadata_yaml: "rules: []\n",
                usage: None,
                protocol_version: "v1".into(),
            },
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("mutating"), "{err:#}");

        let err = annotate(
            &tiny_module(),
            AnnotateInput {
                metadata_yaml: "rules: [{apiGroups: [], apiVersions: [v1], resources: [pods], operations: [CREATE]}]\nmutating: false\n",
                usage: None,
                protocol_version: "v1".into(),
            },
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("apiGroups must not be empty"),
            "{err:#}"
        );

        let err = annotate(
            &tiny_module(),
            AnnotateInput {
                metadata_yaml: "rules: []\nmutating: false\n",
                usage: None,
                protocol_version: "v2".into(),
            },
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("protocol version"), "{err:#}");
    }
}
