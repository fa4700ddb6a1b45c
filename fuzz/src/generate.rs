//! Input generators driven by `arbitrary::Unstructured`: hostile JSON values,
//! structure-aware mutations of real requests, and the settings the targets use.

use arbitrary::{Result, Unstructured};
use serde_json::{json, Map, Value};

use crate::text;

/// Keys the policy (or Kubernetes) gives a meaning to, so that generated
/// objects reach the typed fields often.
pub const KEYS: &[&str] = &[
    "metadata",
    "spec",
    "name",
    "namespace",
    "annotations",
    "labels",
    "deletionTimestamp",
    "managedFields",
    "operation",
    "fieldsV1",
    "f:spec",
    "f:podManagementPolicy",
    "serviceName",
    "replicas",
    "podManagementPolicy",
    "updateStrategy",
    "type",
    "rollingUpdate",
    "partition",
    "persistentVolumeClaimRetentionPolicy",
    "whenDeleted",
    "whenScaled",
    "template",
    "volumeClaimTemplates",
    "storageClassName",
    "accessModes",
    "volumeMode",
    "resources",
    "requests",
    "storage",
    "app",
    "containers",
    "initContainers",
    "volumeMounts",
    "volumeDevices",
    "volumes",
    "affinity",
    "podAntiAffinity",
    "requiredDuringSchedulingIgnoredDuringExecution",
    "preferredDuringSchedulingIgnoredDuringExecution",
    "podAffinityTerm",
    "labelSelector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "topologyKey",
    "topologySpreadConstraints",
    "namespaces",
    "namespaceSelector",
    "matchLabelKeys",
    "mismatchLabelKeys",
    "volume.beta.kubernetes.io/storage-class",
    "statefulset-policy.kubewarden.io/keep-kubernetes-defaults",
    "kubectl.kubernetes.io/last-applied-configuration",
    "subResource",
    "sub_resource",
    "old_object",
    "oldObject",
    "object",
    "kind",
    "group",
    "x-unknown",
    "",
];

/// Strings with a meaning somewhere: classes, enum values, quantities, names.
const STRINGS: &[&str] = &[
    "",
    "standard",
    "forbidden",
    "fast-ssd",
    "slow-hdd",
    "*",
    "nginx",
    "www",
    "kubernetes.io/hostname",
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "None",
    "true",
    "false",
    "OrderedReady",
    "Parallel",
    "RollingUpdate",
    "OnDelete",
    "Retain",
    "Delete",
    "ReadWriteOnce",
    "ReadWriteMany",
    "ReadWriteOncePod",
    "Filesystem",
    "Block",
    "CREATE",
    "UPDATE",
    "DELETE",
    "CONNECT",
    "status",
    "scale",
    "apps",
    "StatefulSet",
    "Service",
    "Apply",
    "Update",
    "1Gi",
    "1024Mi",
    "1073741824",
    "0.5Ti",
    "512Gi",
    "1e3",
    "1E3",
    "1k",
    "100m",
    "1G",
    "20Gi",
    "20.000000001Gi",
    "21474836480",
    "1Ti",
    "-1Gi",
    "+1Gi",
    "1.5Gi",
    ".5Gi",
    "5.",
    "1gi",
    "Gi",
    "1 Gi",
    " 1Gi",
    "1Gi ",
    "0x10",
    "1e2147483647",
    "1e2147483648",
    "1e-2147483648",
    "999999999999999999999999999Ei",
    "0.000000000000000000001",
    "1Ki",
    "8Ei",
    "1..5",
    "--1",
    "1e",
    "1e+3",
    "∞",
    "Nginx_Svc",
    "a-",
    "-a",
    "nginx.svc",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "{\"spec\":{\"podManagementPolicy\":\"OrderedReady\"}}",
    "{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":0}}}}",
    "{\"spec\":",
    "ñ",
    "\u{202e}",
    "\u{0}",
];

/// Numbers written exactly, including ones a JSON parser cannot hold.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "3",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1073741824",
    "1073741825",
    "1073741824.0000000001",
    "1.0000000000000001",
    "0.1",
    "1.5",
    "2.0",
    "1e3",
    "1E3",
    "1e+3",
    "1e-3",
    "1e308",
    "1e309",
    "1e400",
    "-1e400",
    "1e-400",
    "4.9e-324",
    "1.7976931348623157e308",
];

/// A string from the dictionary, a long or odd one, or one from the input.
pub fn string(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=9)? {
        0..=5 => (*u.choose(STRINGS)?).to_string(),
        6 => "a".repeat(u.int_in_range(0..=300)?),
        7 => format!("{}Gi", "9".repeat(u.int_in_range(1..=300)?)),
        _ => {
            let s: String = u.arbitrary()?;
            // A leading NUL would read as one of the text markers.
            s.trim_start_matches('\u{0}').to_string()
        }
    })
}

/// A key, mostly from the dictionary.
pub fn key(u: &mut Unstructured) -> Result<String> {
    if u.ratio(7, 8)? {
        Ok((*u.choose(KEYS)?).to_string())
    } else {
        string(u)
    }
}

/// Any JSON value, up to `depth` levels deep, of any type.
pub fn value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let max = if depth == 0 { 6 } else { 9 };
    Ok(match u.int_in_range(0..=max)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => {
            let f: f64 = u.arbitrary()?;
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        4 => text::number(u.choose(NUMBERS)?),
        5 | 6 => Value::String(string(u)?),
        7 => {
            let n = u.int_in_range(0..=4)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value(u, depth - 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let n = u.int_in_range(0..=4)?;
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(key(u)?, value(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

/// A path to a node inside `root`, as object keys and list indices.
#[derive(Debug, Clone)]
pub enum Step {
    Key(String),
    Index(usize),
}

fn pick_path(u: &mut Unstructured, root: &Value) -> Result<Vec<Step>> {
    let mut path = Vec::new();
    let mut node = root;
    loop {
        let step = match node {
            Value::Object(map) if !map.is_empty() => {
                let i = u.choose_index(map.len())?;
                map.iter().nth(i).map(|(k, v)| (Step::Key(k.clone()), v))
            }
            Value::Array(items) if !items.is_empty() => {
                let i = u.choose_index(items.len())?;
                items.get(i).map(|v| (Step::Index(i), v))
            }
            _ => None,
        };
        // Stop here about one time in five, or at a leaf.
        match step {
            Some((step, child)) if u.int_in_range(0..=4)? != 0 => {
                path.push(step);
                node = child;
            }
            _ => return Ok(path),
        }
    }
}

fn node_mut<'a>(root: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut node = root;
    for step in path {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => map.get_mut(k)?,
            (Step::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// One hostile edit of `root` at a node chosen by the input.
pub fn mutate(u: &mut Unstructured, root: &mut Value) -> Result<()> {
    let path = pick_path(u, root)?;
    let op = u.int_in_range(0..=9)?;
    let fresh = value(u, 2)?;
    let new_key = key(u)?;
    let position: usize = u.arbitrary()?;
    match op {
        // Replace the node by a value of any type.
        0 | 1 => {
            if let Some(node) = node_mut(root, &path) {
                *node = fresh;
            }
        }
        // Delete the node.
        2 => {
            if let Some((last, parent)) = path.split_last() {
                match (last, node_mut(root, parent)) {
                    (Step::Key(k), Some(Value::Object(map))) => {
                        map.shift_remove(k);
                    }
                    (Step::Index(i), Some(Value::Array(items))) if *i < items.len() => {
                        items.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        // Insert a key or a list item.
        3 | 4 => match node_mut(root, &path) {
            Some(Value::Object(map)) => {
                map.insert(new_key, fresh);
            }
            Some(Value::Array(items)) => {
                let at = position % (items.len() + 1);
                items.insert(at, fresh);
            }
            _ => {}
        },
        // Write one of the keys twice (before or after the original).
        5 | 6 => {
            if let Some(Value::Object(map)) = node_mut(root, &path) {
                if !map.is_empty() {
                    let i = position % map.len();
                    let existing = map
                        .iter()
                        .nth(i)
                        .map(|(k, _)| text::real_key(k).to_string());
                    if let Some(existing) = existing {
                        let dup = text::duplicate_key(map, &existing);
                        let at = (position / 7) % (map.len() + 1);
                        let entries: Vec<(String, Value)> =
                            std::mem::take(map).into_iter().collect();
                        for (j, (k, v)) in entries.into_iter().enumerate() {
                            if j == at {
                                map.insert(dup.clone(), fresh.clone());
                            }
                            map.insert(k, v);
                        }
                        if !map.contains_key(&dup) {
                            map.insert(dup, fresh);
                        }
                    }
                }
            }
        }
        // An object read as a list of its values (serde's positional structs).
        7 => {
            if let Some(node) = node_mut(root, &path) {
                if let Value::Object(map) = node {
                    *node = Value::Array(std::mem::take(map).into_iter().map(|(_, v)| v).collect());
                }
            }
        }
        // Reorder the keys of an object, or the items of a list.
        8 => match node_mut(root, &path) {
            Some(Value::Object(map)) if map.len() > 1 => {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                let len = entries.len();
                entries.swap(position % len, (position / 13) % len);
                map.extend(entries);
            }
            Some(Value::Array(items)) if items.len() > 1 => {
                let len = items.len();
                items.swap(position % len, (position / 13) % len);
            }
            _ => {}
        },
        // A number written exactly.
        _ => {
            if let Some(node) = node_mut(root, &path) {
                *node = text::number(u.choose(NUMBERS)?);
            }
        }
    }
    Ok(())
}

/// Settings the structure-aware target chooses from: each exercises a group
/// of checks or defaults.
pub fn settings_choices() -> Vec<Value> {
    vec![
        json!({}),
        json!({"storage": {"allowedStorageClasses": ["standard", "fast-ssd"]}}),
        json!({"storage": {"deniedStorageClasses": ["slow-hdd", "forbidden"]}}),
        json!({"storage": {"minSize": "1Gi", "maxSize": "20Gi"}}),
        json!({"storage": {"minSize": "1024Mi", "maxSize": "1073741824"}}),
        json!({"defaults": {
            "podManagementPolicy": "Parallel", "partition": 1, "storageClassName": "standard",
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"}}}),
        json!({"storage": {"allowedStorageClasses": ["standard"]},
               "defaults": {"storageClassName": "standard"}}),
        json!({
            "storage": {"allowedStorageClasses": ["fast-ssd"], "requireStorageClass": true,
                "storageClassMustExist": true, "requireVolumeExpansion": true,
                "allowedAccessModes": ["ReadWriteOnce"], "minSize": "1", "maxSize": "1Ti",
                "allowedVolumeModes": ["Filesystem"], "requireRetainPolicy": true},
            "rollout": {"allowedPodManagementPolicies": ["OrderedReady"],
                "allowedUpdateStrategies": ["RollingUpdate"]},
            "defaults": {"podManagementPolicy": "OrderedReady", "partition": 0,
                "storageClassName": "fast-ssd",
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}}),
        json!({"lookupFailure": "warn",
               "enforcement": {"service-exists": "warn", "storage-class-allowed": "warn"},
               "storage": {"allowedStorageClasses": ["standard"]}}),
        json!({"serviceName": {"required": false, "mustExist": false, "mustBeHeadless": false,
                   "mustSelectPods": false},
               "storage": {"allowedStorageClasses": ["*"]}, "defaults": {"partition": 3}}),
        json!({"enforcement": {"service-in-use": "deny", "partition-within-replicas": "deny"},
               "defaults": {"persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"}}}),
        json!({"storage": {"maxSize": "0.5Ti", "allowedStorageClasses": ["standard", ""]},
               "defaults": {"storageClassName": ""}}),
        json!({"availability": {"podDisruptionBudget": true}}),
        json!({"availability": {"podDisruptionBudget": true,
                   "spreadTopologyKeys": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]},
               "enforcement": {"pods-spread": "deny", "claims-mounted": "deny"}}),
        json!({"availability": {"spreadTopologyKeys": []},
               "enforcement": {"volume-mounts-resolve": "warn"}}),
        Value::Null,
    ]
}

/// Settings built from the input, with the keys the policy knows.
pub fn settings(u: &mut Unstructured) -> Result<Value> {
    const SECTIONS: &[(&str, &[&str])] = &[
        (
            "serviceName",
            &["required", "mustExist", "mustBeHeadless", "mustSelectPods"],
        ),
        (
            "storage",
            &[
                "allowedStorageClasses",
                "deniedStorageClasses",
                "requireStorageClass",
                "storageClassMustExist",
                "requireVolumeExpansion",
                "allowedAccessModes",
                "minSize",
                "maxSize",
                "allowedVolumeModes",
                "requireRetainPolicy",
            ],
        ),
        (
            "rollout",
            &["allowedPodManagementPolicies", "allowedUpdateStrategies"],
        ),
        (
            "availability",
            &["podDisruptionBudget", "spreadTopologyKeys"],
        ),
        (
            "defaults",
            &[
                "podManagementPolicy",
                "partition",
                "storageClassName",
                "persistentVolumeClaimRetentionPolicy",
            ],
        ),
        (
            "enforcement",
            &[
                "service-name-required",
                "service-name-valid",
                "service-exists",
                "storage-class-allowed",
                "storage-size",
                "partition-within-replicas",
                "volume-mounts-resolve",
                "claims-mounted",
                "pods-spread",
                "pdb-covers-pods",
                "pdb-allows-disruption",
                "service-in-use",
                "no-such-check",
            ],
        ),
    ];
    let mut root = Map::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let (section, keys) = *u.choose(SECTIONS)?;
        let mut map = Map::new();
        for _ in 0..u.int_in_range(0..=4)? {
            let key = *u.choose(keys)?;
            let item = match u.int_in_range(0..=5)? {
                0 => Value::Bool(u.arbitrary()?),
                1 => Value::String(string(u)?),
                2 => json!([string(u)?, string(u)?]),
                3 => json!(["deny", "warn", "off"][u.choose_index(3)?]),
                4 => json!({"whenDeleted": string(u)?, "whenScaled": string(u)?}),
                _ => value(u, 2)?,
            };
            map.insert(key.to_string(), item);
        }
        root.insert(section.to_string(), Value::Object(map));
    }
    if u.ratio(1, 4)? {
        root.insert(
            "lookupFailure".into(),
            Value::String(["deny", "warn", "Deny"][u.choose_index(3)?].into()),
        );
    }
    if u.ratio(1, 8)? {
        root.insert(key(u)?, value(u, 1)?);
    }
    Ok(Value::Object(root))
}
