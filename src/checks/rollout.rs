//! Ordered rollout: pod management policy, update strategy and partition.

use crate::settings::{permitted, PodManagementPolicy, UpdateStrategyType};
use crate::statefulset::StatefulSetSpec;
use crate::violation::{quote, quoted_list, CheckId, Violation};

/// `pod-management-policy-allowed` (absent means the Kubernetes default, OrderedReady).
pub fn pod_management_policy_allowed(
    spec: &StatefulSetSpec,
    allowed: &[PodManagementPolicy],
) -> Option<Violation> {
    let policy = spec
        .pod_management_policy
        .as_deref()
        .unwrap_or(PodManagementPolicy::OrderedReady.as_str());
    (!permitted(allowed, policy)).then(|| {
        Violation::new(
            CheckId::PodManagementPolicyAllowed,
            "spec.podManagementPolicy",
            quote(policy),
            format!(
                "allowed pod management policies are {}",
                quoted_list(allowed)
            ),
        )
    })
}

/// `update-strategy-allowed` (absent means the Kubernetes default, RollingUpdate).
pub fn update_strategy_allowed(
    spec: &StatefulSetSpec,
    allowed: &[UpdateStrategyType],
) -> Option<Violation> {
    let strategy = spec.update_strategy_type();
    (!permitted(allowed, strategy)).then(|| {
        Violation::new(
            CheckId::UpdateStrategyAllowed,
            "spec.updateStrategy.type",
            quote(strategy),
            format!("allowed update strategies are {}", quoted_list(allowed)),
        )
    })
}

/// `partition-within-replicas`: a partition above the replica count means no
/// pod is ever updated. (Equal to it is the usual way to stage an update.)
pub fn partition_within_replicas(spec: &StatefulSetSpec) -> Option<Violation> {
    if spec.update_strategy_type() != UpdateStrategyType::RollingUpdate.as_str() {
        return None;
    }
    let partition = spec.partition()?;
    let replicas = spec.replicas_or_default();
    (partition > replicas).then(|| {
        Violation::new(
            CheckId::PartitionWithinReplicas,
            "spec.updateStrategy.rollingUpdate.partition",
            partition.to_string(),
            format!("above spec.replicas ({replicas}), so no pod is ever updated"),
        )
    })
}
