//! The properties every response must have, written independently of the
//! policy's own decoding: they read the request as a plain `serde_json::Value`.
//!
//! This file depends only on `serde_json` and the policy's vocabulary
//! (`statefulset_policy::violation::CheckId`), so that the property tests
//! (`tests/properties.rs`) include it as well. It holds no copy of the rules:
//! what it says about verdicts are relations between two evaluations.

use serde_json::{Map, Value};
use statefulset_policy::violation::CheckId;

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
        if let Some(pod) = opt_object(template, "spec", "spec.template")? {
            well_typed_pod(pod)?;
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

/// The pod template's volumes, containers' mounts and devices, pod
/// anti-affinity and topology spread constraints.
fn well_typed_pod(pod: &Map<String, Value>) -> Result<(), String> {
    let at = "spec.template.spec";
    for list in ["containers", "initContainers"] {
        for container in opt_objects(pod, list, at)? {
            opt_string(container, "name", list)?;
            for field in ["volumeMounts", "volumeDevices"] {
                for item in opt_objects(container, field, list)? {
                    opt_string(item, "name", field)?;
                }
            }
        }
    }
    for volume in opt_objects(pod, "volumes", at)? {
        opt_string(volume, "name", "volumes")?;
    }
    if let Some(affinity) = opt_object(pod, "affinity", at)? {
        if let Some(anti) = opt_object(affinity, "podAntiAffinity", "affinity")? {
            let required = "requiredDuringSchedulingIgnoredDuringExecution";
            for term in opt_objects(anti, required, "podAntiAffinity")? {
                well_typed_term(term, required)?;
            }
            let preferred = "preferredDuringSchedulingIgnoredDuringExecution";
            for weighted in opt_objects(anti, preferred, "podAntiAffinity")? {
                if let Some(term) = opt_object(weighted, "podAffinityTerm", preferred)? {
                    well_typed_term(term, preferred)?;
                }
            }
        }
    }
    let spread = "topologySpreadConstraints";
    for constraint in opt_objects(pod, spread, at)? {
        opt_string(constraint, "topologyKey", spread)?;
        opt_selector(constraint, "labelSelector", spread)?;
        opt_strings(constraint, "matchLabelKeys", spread)?;
    }
    Ok(())
}

fn well_typed_term(term: &Map<String, Value>, at: &str) -> Result<(), String> {
    opt_selector(term, "labelSelector", at)?;
    opt_selector(term, "namespaceSelector", at)?;
    opt_string(term, "topologyKey", at)?;
    for key in ["namespaces", "matchLabelKeys", "mismatchLabelKeys"] {
        opt_strings(term, key, at)?;
    }
    Ok(())
}

/// A `metav1.LabelSelector`: matchLabels of strings, matchExpressions of
/// {key, operator: strings, values: strings}.
fn opt_selector(map: &Map<String, Value>, key: &str, at: &str) -> Result<(), String> {
    let Some(selector) = opt_object(map, key, at)? else {
        return Ok(());
    };
    opt_string_map(selector, "matchLabels", key)?;
    for requirement in opt_objects(selector, "matchExpressions", key)? {
        opt_string(requirement, "key", "matchExpressions")?;
        opt_string(requirement, "operator", "matchExpressions")?;
        opt_strings(requirement, "values", "matchExpressions")?;
    }
    Ok(())
}

/// A list of objects, `null` read as empty; a `null` item is refused.
fn opt_objects<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Vec<&'a Map<String, Value>>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_object()
                    .ok_or_else(|| format!("{at}.{key}[] is {}", type_name(item)))
            })
            .collect(),
        Some(other) => Err(format!("{at}.{key} is {}", type_name(other))),
    }
}

fn opt_strings(map: &Map<String, Value>, key: &str, at: &str) -> Result<(), String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(other) => Err(format!("{at}.{key} is {other}, not a list of strings")),
    }
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
// Properties that need no copy of the rules

/// The same settings with every check raised to `deny` and `lookupFailure:
/// deny`: each violation can then only move from ignored or warned to
/// denied, so a request these settings accept, the original settings accept
/// too. `None` when `settings` is not an object (or absent: `{}` is used).
pub fn stricter(settings: Option<&Value>) -> Option<Value> {
    let mut stricter = match settings {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(_) => return None,
    };
    let enforcement: Map<String, Value> = CheckId::ALL
        .iter()
        .map(|check| (check.as_str().to_string(), Value::from("deny")))
        .collect();
    stricter["enforcement"] = Value::Object(enforcement);
    stricter["lookupFailure"] = Value::from("deny");
    Some(stricter)
}

/// The request with the claim templates of its objects in reverse order and
/// the keys of their pod template labels reversed: a StatefulSet's verdict
/// cannot depend on either order.
pub fn reordered(request: &Value) -> Value {
    let mut request = request.clone();
    // UPDATE pairs old and new claims by index: both are reversed, and only
    // when they are as many (the API server keeps claim templates unchanged).
    let claims = |key: &str| {
        request
            .get(key)
            .and_then(|o| o.pointer("/spec/volumeClaimTemplates"))
            .and_then(Value::as_array)
            .map(Vec::len)
    };
    let old_claims = claims("oldObject");
    let reverse_claims = old_claims.is_none() || old_claims == claims("object");
    for key in ["object", "oldObject"] {
        let Some(spec) = request.get_mut(key).and_then(|o| o.get_mut("spec")) else {
            continue;
        };
        if let (true, Some(Value::Array(claims))) =
            (reverse_claims, spec.get_mut("volumeClaimTemplates"))
        {
            claims.reverse();
        }
        let labels = spec
            .get_mut("template")
            .and_then(|t| t.get_mut("metadata"))
            .and_then(|m| m.get_mut("labels"));
        if let Some(Value::Object(labels)) = labels {
            let reversed: Map<String, Value> = std::mem::take(labels).into_iter().rev().collect();
            *labels = reversed;
        }
    }
    request
}
