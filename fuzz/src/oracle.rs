//! The properties every response must have, written independently of the
//! policy's own decoding: they read the request as a plain `serde_json::Value`.
//!
//! This file depends only on `serde_json` and `statefulset_policy::quantity`, so
//! that the property tests (`tests/properties.rs`) include it as well.

use serde_json::{Map, Value};
use statefulset_policy::quantity::Quantity;

pub const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
pub const KEEP_DEFAULTS: &str = "statefulset-policy.kubewarden.io/keep-kubernetes-defaults";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

// ---------------------------------------------------------------------------
// Does the object decode?

/// Whether `object` has the JSON types Kubernetes gives to every field the
/// policy reads (`src/statefulset.rs`). `null` counts as absent, unknown
/// fields are ignored. `Err` names the first field with a wrong type.
pub fn well_typed(object: &Value) -> Result<(), String> {
    let root = object
        .as_object()
        .ok_or_else(|| format!("the object is {}, not a JSON object", type_name(object)))?;
    if let Some(meta) = opt_object(root, "metadata", "metadata")? {
        for key in ["name", "namespace", "deletionTimestamp"] {
            opt_string(meta, key, "metadata")?;
        }
        opt_string_map(meta, "annotations", "metadata")?;
        opt_string_map(meta, "labels", "metadata")?;
    }
    let Some(spec) = opt_object(root, "spec", "")? else {
        return Ok(());
    };
    opt_string(spec, "serviceName", "spec")?;
    opt_i32(spec, "replicas", "spec")?;
    opt_string(spec, "podManagementPolicy", "spec")?;
    if let Some(strategy) = opt_object(spec, "updateStrategy", "spec")? {
        opt_string(strategy, "type", "spec.updateStrategy")?;
        if let Some(rolling) = opt_object(strategy, "rollingUpdate", "spec.updateStrategy")? {
            opt_i32(rolling, "partition", "spec.updateStrategy.rollingUpdate")?;
        }
    }
    let retention = "persistentVolumeClaimRetentionPolicy";
    if let Some(policy) = opt_object(spec, retention, "spec")? {
        opt_string(policy, "whenDeleted", retention)?;
        opt_string(policy, "whenScaled", retention)?;
    }
    if let Some(template) = opt_object(spec, "template", "spec")? {
        if let Some(meta) = opt_object(template, "metadata", "spec.template")? {
            opt_string_map(meta, "labels", "spec.template.metadata")?;
        }
    }
    match spec.get("volumeClaimTemplates") {
        None | Some(Value::Null) => {}
        Some(Value::Array(claims)) => {
            for (i, claim) in claims.iter().enumerate() {
                well_typed_claim(claim, &format!("spec.volumeClaimTemplates[{i}]"))?;
            }
        }
        Some(other) => return Err(format!("spec.volumeClaimTemplates is {}", type_name(other))),
    }
    Ok(())
}

fn well_typed_claim(claim: &Value, at: &str) -> Result<(), String> {
    let claim = claim
        .as_object()
        .ok_or_else(|| format!("{at} is {}", type_name(claim)))?;
    if let Some(meta) = opt_object(claim, "metadata", at)? {
        opt_string(meta, "name", at)?;
        opt_string_map(meta, "annotations", at)?;
    }
    if let Some(spec) = opt_object(claim, "spec", at)? {
        opt_string(spec, "storageClassName", at)?;
        opt_string(spec, "volumeMode", at)?;
        match spec.get("accessModes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(modes)) if modes.iter().all(Value::is_string) => {}
            Some(other) => return Err(format!("{at}.spec.accessModes is {other}")),
        }
        if let Some(resources) = opt_object(spec, "resources", at)? {
            if let Some(requests) = opt_object(resources, "requests", at)? {
                for (key, value) in requests {
                    if !(value.is_string() || value.is_number()) {
                        return Err(format!("{at} requests.{key} is {}", type_name(value)));
                    }
                }
            }
        }
    }
    Ok(())
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn opt_object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(other) => Err(format!("{at}.{key} is {}", type_name(other))),
    }
}

fn opt_string(map: &Map<String, Value>, key: &str, at: &str) -> Result<(), String> {
    match map.get(key) {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(other) => Err(format!("{at}.{key} is {}", type_name(other))),
    }
}

fn opt_i32(map: &Map<String, Value>, key: &str, at: &str) -> Result<(), String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) => Ok(()),
        Some(other) => Err(format!("{at}.{key} is {other}, not an int32")),
    }
}

fn opt_string_map(map: &Map<String, Value>, key: &str, at: &str) -> Result<(), String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(entries)) if entries.values().all(Value::is_string) => Ok(()),
        Some(other) => Err(format!("{at}.{key} is {other}, not a map of strings")),
    }
}

// ---------------------------------------------------------------------------
// Does the mutation touch only the defaulted paths?

/// The `defaults` section of the settings, read as plain JSON.
#[derive(Debug, Clone, Default)]
pub struct DefaultsSpec {
    pub pod_management_policy: Option<String>,
    pub partition: Option<i64>,
    pub storage_class_name: Option<String>,
    pub when_deleted: Option<String>,
    pub when_scaled: Option<String>,
}

impl DefaultsSpec {
    pub fn from_settings(settings: Option<&Value>) -> DefaultsSpec {
        let defaults = settings.and_then(|s| s.get("defaults"));
        let text = |key: &str| {
            defaults
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let retention = defaults.and_then(|d| d.get("persistentVolumeClaimRetentionPolicy"));
        let action = |key: &str| {
            retention
                .and_then(|r| r.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        DefaultsSpec {
            pod_management_policy: text("podManagementPolicy"),
            partition: defaults
                .and_then(|d| d.get("partition"))
                .and_then(Value::as_i64),
            storage_class_name: text("storageClassName"),
            when_deleted: action("whenDeleted"),
            when_scaled: action("whenScaled"),
        }
    }
}

/// Whether the object carries the opt-out annotation.
pub fn opted_out(object: &Value) -> bool {
    object
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(KEEP_DEFAULTS))
        .and_then(Value::as_str)
        == Some("true")
}

/// Equality that also compares the order of object keys.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

fn absent(value: Option<&Value>) -> bool {
    value.is_none_or(Value::is_null)
}

/// The signs that the user chose a field (kubectl last-applied, server-side apply).
struct Chosen {
    last_applied: Option<Value>,
    applied: Vec<Value>,
}

impl Chosen {
    fn read(object: &Value) -> Chosen {
        let meta = object.get("metadata");
        Chosen {
            last_applied: meta
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(LAST_APPLIED))
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str(t).ok()),
            applied: meta
                .and_then(|m| m.get("managedFields"))
                .and_then(Value::as_array)
                .map(|entries| {
                    entries
                        .iter()
                        .filter(|e| e.get("operation").and_then(Value::as_str) == Some("Apply"))
                        .filter_map(|e| e.get("fieldsV1").cloned())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn chose(&self, path: &[&str]) -> bool {
        let mut node = self.last_applied.as_ref();
        for key in path {
            node = node.and_then(|n| n.get(*key));
        }
        node.is_some_and(|v| !v.is_null())
            || self.applied.iter().any(|fields| {
                let mut node = Some(fields);
                for key in path {
                    node = node.and_then(|n| n.get(format!("f:{key}")));
                }
                node.is_some()
            })
    }
}

/// One defaulted leaf: the mutated value must be the configured default, and
/// the original absent, `null`, or the Kubernetes default nobody chose.
fn leaf(
    original: &mut Map<String, Value>,
    mutated: &mut Map<String, Value>,
    key: &str,
    default: Option<Value>,
    kubernetes_default: Option<Value>,
    chosen: &Chosen,
    path: &[&str],
) -> Result<(), String> {
    let (o, m) = (original.get(key), mutated.get(key));
    if m.is_some() == o.is_some() && m.zip(o).is_none_or(|(m, o)| same(m, o)) {
        return Ok(());
    }
    let at = path.join(".");
    let default = default.ok_or_else(|| format!("{at} changed without a configured default"))?;
    if !m.is_some_and(|m| same(m, &default)) {
        return Err(format!("{at} became {m:?}, not the default {default}"));
    }
    let replaceable = match o {
        None | Some(Value::Null) => true,
        Some(current) => kubernetes_default.as_ref() == Some(current) && !chosen.chose(path),
    };
    if !replaceable {
        return Err(format!("{at} was {o:?} and must not be replaced"));
    }
    restore(original, mutated, key);
    Ok(())
}

/// Puts the original's value back (or removes the key it lacked), in place.
fn restore(original: &Map<String, Value>, mutated: &mut Map<String, Value>, key: &str) {
    match original.get(key) {
        Some(value) => {
            if let Some(slot) = mutated.get_mut(key) {
                *slot = value.clone();
            }
        }
        None => {
            mutated.shift_remove(key);
        }
    }
}

/// A container the default created where the original had none (or `null`).
fn created(
    original: &Map<String, Value>,
    mutated: &mut Map<String, Value>,
    key: &str,
    expected: Option<Value>,
    at: &str,
) -> Result<bool, String> {
    if !absent(original.get(key)) {
        return Ok(false);
    }
    let m = mutated.get(key);
    if absent(m) && original.get(key).is_some() == m.is_some() {
        return Ok(true);
    }
    let expected = expected.ok_or_else(|| format!("{at}.{key} appeared without a default"))?;
    if !m.is_some_and(|m| same(m, &expected)) {
        return Err(format!("{at}.{key} became {m:?}, expected {expected}"));
    }
    restore(original, mutated, key);
    Ok(true)
}

/// `Ok` when `mutated` equals `original` except at the paths the configured
/// defaults may set, with key order and list order untouched.
pub fn check_mutation(
    original: &Value,
    mutated: &Value,
    defaults: &DefaultsSpec,
) -> Result<(), String> {
    let chosen = Chosen::read(original);
    let mut undone = mutated.clone();
    let mut original = original.clone();
    if let (Some(o_spec), Some(m_spec)) = (
        original.get_mut("spec").and_then(Value::as_object_mut),
        undone.get_mut("spec").and_then(Value::as_object_mut),
    ) {
        undo_spec(o_spec, m_spec, defaults, &chosen)?;
    }
    if same(&original, &undone) {
        Ok(())
    } else {
        Err(format!(
            "the mutated object differs outside the defaulted paths: {}",
            first_difference(&original, &undone, "")
        ))
    }
}

fn undo_spec(
    o: &mut Map<String, Value>,
    m: &mut Map<String, Value>,
    d: &DefaultsSpec,
    chosen: &Chosen,
) -> Result<(), String> {
    let text = |v: &Option<String>| v.clone().map(Value::String);
    leaf(
        o,
        m,
        "podManagementPolicy",
        text(&d.pod_management_policy),
        Some("OrderedReady".into()),
        chosen,
        &["spec", "podManagementPolicy"],
    )?;

    // Partition, under RollingUpdate (or no type) only.
    let partition = d.partition.map(Value::from);
    let whole = partition
        .clone()
        .map(|p| serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"partition": p}}));
    if !created(o, m, "updateStrategy", whole, "spec")? {
        if let (Some(Value::Object(os)), Some(Value::Object(ms))) =
            (o.get_mut("updateStrategy"), m.get_mut("updateStrategy"))
        {
            let rolling = matches!(os.get("type"), None | Some(Value::Null))
                || os.get("type").and_then(Value::as_str) == Some("RollingUpdate");
            let part = partition.clone().filter(|_| rolling);
            let inner = part.clone().map(|p| serde_json::json!({"partition": p}));
            if !created(os, ms, "rollingUpdate", inner, "spec.updateStrategy")? {
                if let (Some(Value::Object(or)), Some(Value::Object(mr))) =
                    (os.get_mut("rollingUpdate"), ms.get_mut("rollingUpdate"))
                {
                    leaf(
                        or,
                        mr,
                        "partition",
                        part,
                        Some(0.into()),
                        chosen,
                        &["spec", "updateStrategy", "rollingUpdate", "partition"],
                    )?;
                }
            }
        }
    }

    // Retention policy.
    let key = "persistentVolumeClaimRetentionPolicy";
    let mut fresh = Map::new();
    if let Some(a) = &d.when_deleted {
        fresh.insert("whenDeleted".into(), a.clone().into());
    }
    if let Some(a) = &d.when_scaled {
        fresh.insert("whenScaled".into(), a.clone().into());
    }
    let whole = (!fresh.is_empty()).then_some(Value::Object(fresh));
    if !created(o, m, key, whole, "spec")? {
        if let (Some(Value::Object(op)), Some(Value::Object(mp))) = (o.get_mut(key), m.get_mut(key))
        {
            for (field, default) in [
                ("whenDeleted", text(&d.when_deleted)),
                ("whenScaled", text(&d.when_scaled)),
            ] {
                leaf(
                    op,
                    mp,
                    field,
                    default,
                    Some("Retain".into()),
                    chosen,
                    &["spec", key, field],
                )?;
            }
        }
    }

    // Storage class of claims that name none.
    if let (Some(Value::Array(oc)), Some(Value::Array(mc))) = (
        o.get_mut("volumeClaimTemplates"),
        m.get_mut("volumeClaimTemplates"),
    ) {
        for (i, (oc, mc)) in oc.iter_mut().zip(mc.iter_mut()).enumerate() {
            let (Some(oc), Some(mc)) = (oc.as_object_mut(), mc.as_object_mut()) else {
                continue;
            };
            let annotated = !absent(
                oc.get("metadata")
                    .and_then(|m| m.get("annotations"))
                    .and_then(|a| a.get(BETA_STORAGE_CLASS)),
            );
            let class = d
                .storage_class_name
                .clone()
                .filter(|_| !annotated)
                .map(Value::String);
            let at = format!("spec.volumeClaimTemplates[{i}]");
            let whole = class
                .clone()
                .map(|c| serde_json::json!({"storageClassName": c}));
            if !created(oc, mc, "spec", whole, &at)? {
                if let (Some(Value::Object(os)), Some(Value::Object(ms))) =
                    (oc.get_mut("spec"), mc.get_mut("spec"))
                {
                    // Only absent or null is replaced: "" is a choice.
                    leaf(os, ms, "storageClassName", class, None, chosen, &[])
                        .map_err(|e| format!("{at}.spec.storageClassName: {e}"))?;
                }
            }
        }
    }
    Ok(())
}

/// Where two values first differ, for messages.
pub fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let xk: Vec<&String> = x.keys().collect();
            let yk: Vec<&String> = y.keys().collect();
            if xk != yk {
                return format!("{at}: keys {xk:?} became {yk:?}");
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    if !same(v, w) {
                        return first_difference(v, w, &format!("{at}/{k}"));
                    }
                }
            }
            format!("{at}: ?")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if !same(v, w) {
                    return first_difference(v, w, &format!("{at}/{i}"));
                }
            }
            format!("{at}: ?")
        }
        _ => format!("{at}: {a} became {b}"),
    }
}

// ---------------------------------------------------------------------------
// No forbidden claim gets through

/// What the settings forbid, read from the settings JSON.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub allowed_classes: Vec<String>,
    pub denied_classes: Vec<String>,
    pub class_check_denies: bool,
    pub min_size: Option<String>,
    pub max_size: Option<String>,
    pub size_check_denies: bool,
    pub service_name_denies: bool,
}

impl Rules {
    pub fn from_settings(settings: Option<&Value>) -> Rules {
        let get = |path: &[&str]| {
            let mut node = settings;
            for key in path {
                node = node.and_then(|n| n.get(*key));
            }
            node
        };
        let strings = |path: &[&str]| -> Vec<String> {
            get(path)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let denies = |check: &str| {
            get(&["enforcement", check])
                .and_then(Value::as_str)
                .is_none_or(|a| a == "deny")
        };
        let quantity = |path: &[&str]| get(path).and_then(json_text);
        Rules {
            allowed_classes: strings(&["storage", "allowedStorageClasses"]),
            denied_classes: strings(&["storage", "deniedStorageClasses"]),
            class_check_denies: denies("storage-class-allowed"),
            min_size: quantity(&["storage", "minSize"]),
            max_size: quantity(&["storage", "maxSize"]),
            size_check_denies: denies("storage-size"),
            service_name_denies: denies("service-name-required")
                && get(&["serviceName", "required"])
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
        }
    }

    /// `Err` when an accepted StatefulSet (as stored after mutation) breaks a
    /// rule. `quantity` gives the exact text of claim `i`'s storage request,
    /// when it differs from what the JSON value shows (numbers).
    pub fn judge(
        &self,
        object: &Value,
        quantity: &dyn Fn(usize) -> Option<String>,
    ) -> Result<(), String> {
        let spec = object.get("spec");
        if self.service_name_denies {
            let name = spec
                .and_then(|s| s.get("serviceName"))
                .and_then(Value::as_str);
            if !name.is_some_and(dns1123_label) {
                return Err(format!("accepted serviceName {name:?}"));
            }
        }
        let no_claims = Vec::new();
        let claims = spec
            .and_then(|s| s.get("volumeClaimTemplates"))
            .and_then(Value::as_array)
            .unwrap_or(&no_claims);
        for (i, claim) in claims.iter().enumerate() {
            let annotation = claim
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(BETA_STORAGE_CLASS))
                .filter(|v| !v.is_null());
            let class = match annotation {
                Some(v) => v.as_str(),
                None => claim
                    .get("spec")
                    .and_then(|s| s.get("storageClassName"))
                    .and_then(Value::as_str),
            };
            if self.class_check_denies {
                let any = self.allowed_classes.iter().any(|c| c == "*");
                if !self.allowed_classes.is_empty() && !any {
                    if !class.is_some_and(|c| self.allowed_classes.iter().any(|a| a == c)) {
                        return Err(format!("accepted claim {i} of class {class:?}"));
                    }
                } else if class.is_some_and(|c| self.denied_classes.iter().any(|d| d == c)) {
                    return Err(format!("accepted claim {i} of denied class {class:?}"));
                }
            }
            if self.size_check_denies && (self.min_size.is_some() || self.max_size.is_some()) {
                let text = quantity(i).or_else(|| {
                    claim
                        .get("spec")
                        .and_then(|s| s.get("resources"))
                        .and_then(|r| r.get("requests"))
                        .and_then(|r| r.get("storage"))
                        .and_then(json_text)
                });
                let size = text
                    .as_deref()
                    .map(Quantity::from_json)
                    .ok_or_else(|| format!("accepted claim {i} without a storage request"))?
                    .map_err(|e| format!("accepted claim {i} with a bad quantity: {e}"))?;
                let bound =
                    |q: &Option<String>| q.as_deref().and_then(|q| Quantity::from_json(q).ok());
                if bound(&self.min_size).is_some_and(|min| size < min)
                    || bound(&self.max_size).is_some_and(|max| size > max)
                {
                    return Err(format!("accepted claim {i} of size {text:?}"));
                }
            }
        }
        Ok(())
    }
}

/// The JSON text of a quantity value, which is what Kubernetes reads
/// (`Quantity.UnmarshalJSON`): a string with its quotes, or a number.
fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => serde_json::to_string(s).ok(),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn dns1123_label(name: &str) -> bool {
    let b = name.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
        && b.iter().all(|c| ok(c) || *c == b'-')
}
