//! Stable storage: the claim templates, one PVC per pod, immutable once created.
//! A StatefulSet without claims passes every rule here.

use crate::cluster::{default_storage_class, ClusterFacts, Fact, StorageClass, STORAGE_CLASSES};
use crate::quantity::Quantity;
use crate::settings::{permitted, AccessMode, Settings, StorageSettings, VolumeMode};
use crate::statefulset::{claim_path, ClaimTemplate, StatefulSetSpec};
use crate::violation::{quote, quoted_list, CheckId, Violation};

fn class_found(class: Option<&str>) -> String {
    class.map_or_else(|| "absent".to_string(), quote)
}

/// `storage-class-required`: each claim names its class (field or beta annotation).
pub fn storage_class_required(claims: &[ClaimTemplate]) -> Vec<Violation> {
    claims
        .iter()
        .enumerate()
        .filter(|(_, claim)| claim.storage_class().is_none())
        .map(|(i, claim)| {
            Violation::new(
                CheckId::StorageClassRequired,
                format!("{}.spec.storageClassName", claim_path(i, claim)),
                "absent",
                "each claim must name its storage class instead of relying on the cluster default",
            )
        })
        .collect()
}

/// `storage-class-allowed`: each claim's class is in the allowlist / not in
/// the denylist. A claim without a class is judged by the class it will get,
/// the cluster's default (from `classes`, the StorageClass list); when that
/// is unknown, an allowlist refuses it and a denylist reports the failed
/// look-up (which then follows `lookupFailure`).
pub fn storage_class_allowed(
    claims: &[ClaimTemplate],
    storage: &StorageSettings,
    classes: &Fact<Vec<StorageClass>>,
) -> Vec<Violation> {
    if storage.allowed_storage_classes.is_empty() && storage.denied_storage_classes.is_empty()
        || storage.allows_any_class()
    {
        return Vec::new();
    }
    let allowlist = !storage.allowed_storage_classes.is_empty();
    let rule = if allowlist {
        format!(
            "allowed storage classes are {}",
            quoted_list(&storage.allowed_storage_classes)
        )
    } else {
        format!(
            "denied storage classes are {}",
            quoted_list(&storage.denied_storage_classes)
        )
    };
    let mut violations = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        // Worded only for a violation: a set may have a hundred claims.
        let field = || format!("{}.{}", claim_path(i, claim), claim.storage_class_field());
        if let Some(class) = claim.storage_class() {
            if !storage.class_acceptable(class) {
                violations.push(Violation::new(
                    CheckId::StorageClassAllowed,
                    field(),
                    quote(class),
                    rule.clone(),
                ));
            }
            continue;
        }
        match classes {
            Fact::Found(classes) => match default_storage_class(classes) {
                Some(default) if storage.class_acceptable(&default.metadata.name) => {}
                Some(default) => violations.push(Violation::new(
                    CheckId::StorageClassAllowed,
                    field(),
                    format!("absent (cluster default {})", quote(&default.metadata.name)),
                    format!("{rule}; a claim that names no class gets the cluster's default class"),
                )),
                // Until a default class exists the claims stay Pending, and
                // then they get that class, whatever it is.
                None if allowlist => violations.push(Violation::new(
                    CheckId::StorageClassAllowed,
                    field(),
                    "absent (the cluster has no default class)",
                    format!("{rule}; the claim names no class, so it would get whatever class becomes the default"),
                )),
                None => {}
            },
            Fact::Failed(error) => violations.push(Violation {
                // The allowlist cannot vouch for a class it does not know: it
                // refuses. The denylist refuses only what it knows is denied,
                // so for it this is a failed look-up (`lookupFailure` decides).
                lookup_failed: !allowlist,
                ..Violation::new(
                    CheckId::StorageClassAllowed,
                    field(),
                    "absent",
                    format!(
                        "{rule}; the claim names no class, so it would get the cluster's default class, which is unknown: {}",
                        error.explain("StorageClasses", &STORAGE_CLASSES)
                    ),
                )
            }),
            _ if allowlist => violations.push(Violation::new(
                CheckId::StorageClassAllowed,
                field(),
                "absent",
                format!("{rule}; the claim names no class, so it would get the cluster's default class"),
            )),
            _ => {}
        }
    }
    violations
}

/// `storage-class-exists` and `storage-class-expandable`, from the StorageClass list.
pub fn storage_class_facts(
    claims: &[ClaimTemplate],
    settings: &Settings,
    facts: &ClusterFacts,
) -> Vec<Violation> {
    let exists = settings.runs(CheckId::StorageClassExists);
    let expandable = settings.runs(CheckId::StorageClassExpandable);
    if !exists && !expandable {
        return Vec::new();
    }
    let classes = match &facts.storage_classes {
        Fact::Found(classes) => classes,
        Fact::Failed(error) if !claims.is_empty() => {
            let check = if exists {
                CheckId::StorageClassExists
            } else {
                CheckId::StorageClassExpandable
            };
            let named: Vec<&str> = claims
                .iter()
                .map(|claim| claim.storage_class().unwrap_or("<default>"))
                .collect();
            return vec![Violation::lookup_failure(
                check,
                "spec.volumeClaimTemplates",
                "unverified",
                error.explain("StorageClasses", &STORAGE_CLASSES),
            )
            .with_inputs(named.join(","))];
        }
        _ => return Vec::new(),
    };
    let mut violations = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        let class = claim.storage_class();
        let field = || format!("{}.{}", claim_path(i, claim), claim.storage_class_field());
        let resolved: Option<&StorageClass> = match class {
            // No dynamic provisioning: binds to a pre-provisioned volume without class.
            Some("") => None,
            Some(name) => classes.iter().find(|c| c.metadata.name == name),
            None => default_storage_class(classes),
        };
        if exists && resolved.is_none() && class != Some("") {
            let rule = match class {
                None => "the claim names no class and the cluster has no default StorageClass, so its claims stay Pending until a default class exists (Kubernetes then assigns it)".to_string(),
                Some(_) => "no StorageClass of that name exists, so the claim's volumes stay Pending".to_string(),
            };
            violations.push(Violation::new(
                CheckId::StorageClassExists,
                field(),
                class_found(class),
                rule,
            ));
            continue;
        }
        if expandable && resolved.is_none_or(|c| c.allow_volume_expansion != Some(true)) {
            let rule = match (class, resolved) {
                (Some(""), _) => "an empty class means pre-provisioned volumes, which cannot be expanded".to_string(),
                (_, None) => "no StorageClass resolves for this claim, so its volumes cannot be expanded".to_string(),
                (_, Some(c)) => format!(
                    "StorageClass {} does not set allowVolumeExpansion: true; claim templates are immutable, so expansion is the only way to grow these volumes",
                    quote(&c.metadata.name)
                ),
            };
            violations.push(Violation::new(
                CheckId::StorageClassExpandable,
                field(),
                class_found(class),
                rule,
            ));
        }
    }
    violations
}

/// `access-modes-allowed`: every mode of every claim is listed.
pub fn access_modes_allowed(claims: &[ClaimTemplate], allowed: &[AccessMode]) -> Vec<Violation> {
    if allowed.is_empty() {
        return Vec::new();
    }
    let mut violations = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        for (m, mode) in claim.spec.access_modes.iter().enumerate() {
            if !permitted(allowed, mode) {
                violations.push(Violation::new(
                    CheckId::AccessModesAllowed,
                    format!("{}.spec.accessModes[{m}]", claim_path(i, claim)),
                    quote(mode),
                    format!("allowed access modes are {}", quoted_list(allowed)),
                ));
            }
        }
    }
    violations
}

/// `storage-size`: each claim requests storage within `[min, max]`.
pub fn storage_size(
    claims: &[ClaimTemplate],
    min: Option<&Quantity>,
    max: Option<&Quantity>,
) -> Vec<Violation> {
    if min.is_none() && max.is_none() {
        return Vec::new();
    }
    let bounds = match (min, max) {
        (Some(min), Some(max)) => format!("between {min} and {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => String::new(),
    };
    let mut violations = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        let field = || format!("{}.spec.resources.requests.storage", claim_path(i, claim));
        let Some(text) = claim.spec.resources.requests.get("storage") else {
            violations.push(Violation::new(
                CheckId::StorageSize,
                field(),
                "absent",
                format!("each claim must request storage {bounds}"),
            ));
            continue;
        };
        let violation = match Quantity::from_json(&text.0) {
            Err(error) => Some(format!("{error}; it must be {bounds}")),
            Ok(size) if min.is_some_and(|m| size < *m) || max.is_some_and(|m| size > *m) => {
                Some(format!("must be {bounds}"))
            }
            Ok(_) => None,
        };
        if let Some(rule) = violation {
            violations.push(Violation::new(
                CheckId::StorageSize,
                field(),
                quote(text.written()),
                rule,
            ));
        }
    }
    violations
}

/// `volume-mode-allowed`: each claim's volume mode (default Filesystem) is listed.
pub fn volume_mode_allowed(claims: &[ClaimTemplate], allowed: &[VolumeMode]) -> Vec<Violation> {
    if allowed.is_empty() {
        return Vec::new();
    }
    claims
        .iter()
        .enumerate()
        .filter_map(|(i, claim)| {
            let mode = claim
                .spec
                .volume_mode
                .as_deref()
                .unwrap_or(VolumeMode::Filesystem.as_str());
            (!permitted(allowed, mode)).then(|| {
                Violation::new(
                    CheckId::VolumeModeAllowed,
                    format!("{}.spec.volumeMode", claim_path(i, claim)),
                    quote(mode),
                    format!("allowed volume modes are {}", quoted_list(allowed)),
                )
            })
        })
        .collect()
}

/// `pvc-retention`: the set's claims outlive deletion and scale-down. Without
/// claims the policy governs nothing, so it passes like every rule here.
pub fn pvc_retention(spec: &StatefulSetSpec) -> Vec<Violation> {
    let Some(policy) = &spec.persistent_volume_claim_retention_policy else {
        return Vec::new();
    };
    if spec.volume_claim_templates.is_empty() {
        return Vec::new();
    }
    [
        ("whenDeleted", &policy.when_deleted),
        ("whenScaled", &policy.when_scaled),
    ]
    .into_iter()
    .filter(|(_, action)| action.as_deref() == Some("Delete"))
    .map(|(key, _)| {
        Violation::new(
            CheckId::PvcRetention,
            format!("spec.persistentVolumeClaimRetentionPolicy.{key}"),
            quote("Delete"),
            "must be Retain, so that the data outlives the pods",
        )
    })
    .collect()
}
