//! The checks: each one a small pure function from the typed StatefulSet (and,
//! for the context-aware ones, the cluster facts gathered before) to violations.
//!
//! The wording of each rule lives next to the check that applies it; check
//! identifiers live in `violation`, whether a check runs in
//! `Settings::runs`, and how violations become a message in `verdict`.

mod availability;
mod rollout;
mod service;
mod storage;
mod volumes;

use crate::cluster::ClusterFacts;
use crate::settings::Settings;
use crate::statefulset::StatefulSet;
use crate::violation::{CheckId, Violation};

pub use service::services_in_use;

/// Runs every check that runs under `settings` on a StatefulSet and returns
/// all violations, in the documented order of the checks.
pub fn run_all(sts: &StatefulSet, settings: &Settings, facts: &ClusterFacts) -> Vec<Violation> {
    let mut found = Vec::new();
    let runs = |check: CheckId| settings.runs(check);

    if runs(CheckId::ServiceNameRequired) {
        found.extend(service::service_name_required(sts));
    }
    if runs(CheckId::ServiceNameValid) {
        found.extend(service::service_name_valid(sts));
    }
    found.extend(service::governing_service(sts, settings, facts));

    let claims = &sts.spec.volume_claim_templates;
    let storage = &settings.storage;
    if runs(CheckId::StorageClassRequired) {
        found.extend(storage::storage_class_required(claims));
    }
    if runs(CheckId::StorageClassAllowed) {
        found.extend(storage::storage_class_allowed(
            claims,
            storage,
            &facts.storage_classes,
        ));
    }
    found.extend(storage::storage_class_facts(claims, settings, facts));
    if runs(CheckId::AccessModesAllowed) {
        found.extend(storage::access_modes_allowed(
            claims,
            &storage.allowed_access_modes,
        ));
    }
    if runs(CheckId::StorageSize) {
        found.extend(storage::storage_size(
            claims,
            storage.min_size.as_ref(),
            storage.max_size.as_ref(),
        ));
    }
    if runs(CheckId::VolumeModeAllowed) {
        found.extend(storage::volume_mode_allowed(
            claims,
            &storage.allowed_volume_modes,
        ));
    }
    if runs(CheckId::PvcRetention) {
        found.extend(storage::pvc_retention(&sts.spec));
    }

    let rollout = &settings.rollout;
    if runs(CheckId::PodManagementPolicyAllowed) {
        found.extend(rollout::pod_management_policy_allowed(
            &sts.spec,
            &rollout.allowed_pod_management_policies,
        ));
    }
    if runs(CheckId::UpdateStrategyAllowed) {
        found.extend(rollout::update_strategy_allowed(
            &sts.spec,
            &rollout.allowed_update_strategies,
        ));
    }
    if runs(CheckId::PartitionWithinReplicas) {
        found.extend(rollout::partition_within_replicas(&sts.spec));
    }

    let pod = &sts.spec.template.spec;
    if runs(CheckId::VolumeMountsResolve) {
        found.extend(volumes::volume_mounts_resolve(pod, claims));
    }
    if runs(CheckId::ClaimsMounted) {
        found.extend(volumes::claims_mounted(pod, claims));
    }
    if runs(CheckId::PodsSpread) {
        found.extend(availability::pods_spread(
            sts,
            &settings.availability.spread_topology_keys,
        ));
    }
    found.extend(availability::disruption_budgets(sts, settings, facts));
    found
}
