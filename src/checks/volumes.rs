//! Volumes: every mount of the pod template names a volume the pods will
//! have, and every claim template is used by some container.
//!
//! The StatefulSet controller gives each pod the template's `volumes` plus one
//! PersistentVolumeClaim volume per claim template, named after the template;
//! a template volume of the same name as a claim is replaced by the claim
//! (`updateStorage`, pkg/controller/statefulset/stateful_set_utils.go). The API
//! server does not check a StatefulSet's template against its volumes (the
//! TODO in `ValidatePodTemplateSpecForStatefulSet`, pkg/apis/apps/validation),
//! but it validates every pod the controller creates, and refuses a mount or
//! device naming no volume: the set is accepted and no replica ever starts.
//!
//! Block-mode claims are consumed through `volumeDevices`, not `volumeMounts`:
//! both must name a volume, and either one uses a claim. A device must name a
//! claim: a claim template, or a template volume that is a
//! PersistentVolumeClaim or an ephemeral volume (`ValidateVolumeDevices`,
//! pkg/apis/core/validation/validation.go).

use std::collections::HashSet;

use crate::statefulset::{claim_path, ClaimTemplate, Container, Named, PodSpec};
use crate::violation::{quote, quoted_list, CheckId, Violation};

const DEVICES: &str = "volumeDevices";

/// Where a container refers to a volume: the container's list and index, and
/// the index in its `volumeMounts` or `volumeDevices`.
struct Use<'a> {
    list: &'static str,
    index: usize,
    container: &'a Container,
    kind: &'static str,
    item: usize,
}

impl Use<'_> {
    /// e.g. `spec.template.spec.initContainers[0] (init).volumeMounts[1].name`;
    /// worded only for a violation.
    fn field(&self) -> String {
        let Use {
            list,
            index,
            container,
            kind,
            item,
        } = self;
        match &container.name {
            Some(name) => {
                format!("spec.template.spec.{list}[{index}] ({name}).{kind}[{item}].name")
            }
            None => format!("spec.template.spec.{list}[{index}].{kind}[{item}].name"),
        }
    }
}

/// Every volume mount and volume device of every container and init
/// container, with the volume name it gives.
fn uses(pod: &PodSpec) -> Vec<(Use<'_>, Option<&str>)> {
    let mut found = Vec::new();
    let lists = [
        ("containers", &pod.containers),
        ("initContainers", &pod.init_containers),
    ];
    for (list, containers) in lists {
        for (index, container) in containers.iter().enumerate() {
            let refs: [(&'static str, &[Named]); 2] = [
                ("volumeMounts", &container.volume_mounts),
                (DEVICES, &container.volume_devices),
            ];
            for (kind, items) in refs {
                for (item, named) in items.iter().enumerate() {
                    let at = Use {
                        list,
                        index,
                        container,
                        kind,
                        item,
                    };
                    found.push((at, named.name.as_deref()));
                }
            }
        }
    }
    found
}

/// `volume-mounts-resolve`: each mount and device names a pod volume or a
/// claim template, and each device a claim.
pub fn volume_mounts_resolve(pod: &PodSpec, claims: &[ClaimTemplate]) -> Vec<Violation> {
    let volumes: Vec<&str> = pod
        .volumes
        .iter()
        .filter_map(|v| v.name.as_deref())
        .collect();
    let claim_names: Vec<&str> = claims
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    // Sets: a template may have hundreds of containers and of claims.
    let known: HashSet<&str> = volumes.iter().chain(&claim_names).copied().collect();
    // A template volume of a claim's name is replaced by the claim (`updateStorage`).
    let claim_volumes: HashSet<&str> = pod
        .volumes
        .iter()
        .filter(|v| v.is_claim())
        .filter_map(|v| v.name.as_deref())
        .chain(claim_names.iter().copied())
        .collect();
    let available = || match (volumes.is_empty(), claim_names.is_empty()) {
        (true, true) => "the template has no volumes and the set no claim templates".to_string(),
        (false, true) => format!("volumes: {}; no claim templates", quoted_list(&volumes)),
        (true, false) => format!("no volumes; claim templates: {}", quoted_list(&claim_names)),
        (false, false) => format!(
            "volumes: {}; claim templates: {}",
            quoted_list(&volumes),
            quoted_list(&claim_names)
        ),
    };
    let mut violations = Vec::new();
    for (at, name) in uses(pod) {
        let Some(name) = name.filter(|name| known.contains(name)) else {
            violations.push(Violation::new(
                CheckId::VolumeMountsResolve,
                at.field(),
                name.map_or_else(|| "absent".to_string(), quote),
                format!(
                    "no volume of spec.template.spec.volumes and no claim template has that name, so the API server refuses every pod the StatefulSet controller creates and no replica ever starts ({})",
                    available()
                ),
            ));
            continue;
        };
        if at.kind == DEVICES && !claim_volumes.contains(name) {
            violations.push(Violation::new(
                CheckId::VolumeMountsResolve,
                at.field(),
                quote(name),
                "names a volume that is neither a claim template nor a persistentVolumeClaim or ephemeral volume, and only those can be block devices, so the API server refuses every pod the StatefulSet controller creates and no replica ever starts; mount it with volumeMounts instead",
            ));
        }
    }
    violations
}

/// `claims-mounted`: each claim template is mounted (or used as a block
/// device) by some container or init container.
pub fn claims_mounted(pod: &PodSpec, claims: &[ClaimTemplate]) -> Vec<Violation> {
    let used: HashSet<&str> = uses(pod).into_iter().filter_map(|(_, name)| name).collect();
    claims
        .iter()
        .enumerate()
        .filter_map(|(i, claim)| {
            // A claim without a name cannot be referred to; Kubernetes refuses it anyway.
            let name = claim.metadata.name.as_deref()?;
            (!used.contains(&name)).then(|| {
                Violation::new(
                    CheckId::ClaimsMounted,
                    format!("{}.metadata.name", claim_path(i, claim)),
                    quote(name),
                    "no container or init container uses it (volumeMounts or volumeDevices), yet every replica gets a PersistentVolumeClaim of its own that nothing reads or writes",
                )
            })
        })
        .collect()
}
